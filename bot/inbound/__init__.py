"""Replies in: raw e-mail (and later Slack) turned into values the rest of the bot stores."""
