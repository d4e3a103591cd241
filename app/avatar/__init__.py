"""The avatar: rig vector names and order, glTF avatars, and how a rig vector poses them."""
