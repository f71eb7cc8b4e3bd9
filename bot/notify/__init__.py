"""Messages out: rendering (Jinja2, Slack blocks) and transports (SMTP, .eml outbox, Slack)."""
