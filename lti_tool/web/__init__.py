"""Server-rendered pages: learner, instructor, administrator, public verification."""
