"""Self-distillation of AHN memories (AHN paper section 2.4; specs/ahn.md section 2)."""
