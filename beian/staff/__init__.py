"""The staff of both sides and what each role may do (DESIGN §9: staff roles are explicit and
managed in the admin): the role table, the admin of accounts, and `create_staff`."""
