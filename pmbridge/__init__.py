"""pmbridge's command line and the demo that wires everything together."""
