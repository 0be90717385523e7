"""The encoding-model base class, weight readers, shared read-out math and device placement."""
