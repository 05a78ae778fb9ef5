-- set_virtual: a SetParameterValues task (the API's) naming virtual
-- parameters: each VirtualParameters.NAME is set through its rule's set(),
-- as a policy's set() would, in the device's next session; the task is done
-- once the rules' declarations are carried out (a rule without set, or an
-- unknown one, faults the task).
local args = ...
for _, p in ipairs(args.ParameterList or {}) do
  set(p.Name, p.Value)
end
commit()
