"""Code that runs inside every environment: stdlib plus the installed scientific stack."""
