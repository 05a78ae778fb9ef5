-- the good provision: a tag
tag("ok")
