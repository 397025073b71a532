"""Templates and CSS of the printable handout (package data, read by needlecli.render.html)."""
