"""HTTP servers the tests start on 127.0.0.1 that speak real wire formats (never mocks of our code)."""
