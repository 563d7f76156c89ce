"""Who uses the consoles: staff accounts (argon2 passwords), subscriber SMS-code sign-in,
web sessions, the sign-in log and subscribers' real-name profiles (masked on every screen)."""
