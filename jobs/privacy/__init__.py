"""The privacy gate (raw -> stage, tokens only), the vault and the leak scanner."""
