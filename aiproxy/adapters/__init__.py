"""One adapter per account type: where its upstream is and how to authenticate to it."""
