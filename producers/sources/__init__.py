"""Where prices come from: the LiveCoinWatch API (current prices and history) or the demo walk."""
