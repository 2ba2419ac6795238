"""Ways in: machine layouts (qemu-like, e820), zoneinfo clones, free-list captures, snapshots."""
