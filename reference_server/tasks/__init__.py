"""Background work started in the app's lifespan: online tracker, hashing, cleanup."""
