"""The guest initramfs: collect files, write a newc cpio, cache it by content hash."""
