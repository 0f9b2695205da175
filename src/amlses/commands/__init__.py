"""Commands of the amlses CLI beyond run/check/secrets, one module each."""
