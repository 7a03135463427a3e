"""The staff dashboard at /dashboard/: a page, its JSON sample, and the reads behind it."""
