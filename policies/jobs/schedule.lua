-- The fleet jobs and how often they run (seconds). Each runs on one acsd
-- instance at a time, outside any CWMP session.
return {
  silent = {every = 600, args = {intervals = 3}},
}
