"""HTTP routes: thin adapters that parse, call one service and map the result."""
