-- never scheduled: the schedule above faults first
while true do end
