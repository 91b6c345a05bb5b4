"""The archive of issued documents: for now, its search index and query engine."""
