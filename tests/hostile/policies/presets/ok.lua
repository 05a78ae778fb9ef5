-- every device: the good provision (its tag shows its session ran)
return {provisions = {"ok"}, channel = "ok", weight = 1}
