"""Motion: head pose vs expression (pose), transfer (retarget), .motion files (template), presets."""
