"""Berdaya's shared kernel: what every service uses, written once."""
