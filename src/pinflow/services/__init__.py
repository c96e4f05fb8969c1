"""Use cases. Each public function owns exactly one transaction and writes its audit event."""
