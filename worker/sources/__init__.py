"""Where inputs come from: feed fetching over HTTP(S), its address guard and its state."""
