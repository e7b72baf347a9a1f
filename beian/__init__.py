"""beian: an ICP filing (ICP备案) platform for hosting providers, with a simulated bureau."""
