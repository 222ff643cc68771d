"""Dialogue policies of the Leaf & Bean bot."""
