pytest_plugins = ["essl.testing.fixtures"]
