"""The compliance workflow (docs/compliance.md): the rules a signature name and its source
must meet. May import runtime/ and domain/."""
