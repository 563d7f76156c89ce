"""The audit log (issue 16, R13): every staff action appended to one hash chain, with signed
checkpoints an auditor can keep outside the system."""
