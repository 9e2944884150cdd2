-- Argo CD health check for ferrocache.io/CacheCluster (resource.customizations.health.ferrocache.io_CacheCluster).
--
-- Healthy:     status.status is "available" and the Ready condition is True (and Degraded is not True).
-- Progressing: no status yet, the operator has not observed the latest generation, or the cluster is creating,
--              modifying, failing over, snapshotting or being deleted.
-- Degraded:    anything else (incompatible-parameters, incompatible-configuration, available but not ready),
--              with the message of the Degraded condition when it is True, else that of the Ready condition.
local hs = {}

local function condition(conditions, type)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function message_of(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

local status = obj.status
if status == nil or status.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report the cluster's status"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = condition(status.conditions, "Ready")
local progressing = condition(status.conditions, "Progressing")
local degraded = condition(status.conditions, "Degraded")
local state = status.status

local in_progress = {
  ["creating"] = true,
  ["modifying"] = true,
  ["failing-over"] = true,
  ["snapshotting"] = true,
  ["deleting"] = true,
}

if in_progress[state] then
  hs.status = "Progressing"
  hs.message = state .. ": " .. message_of(progressing, message_of(ready, "in progress"))
  return hs
end

local degraded_true = degraded ~= nil and degraded.status == "True"
if state == "available" and ready ~= nil and ready.status == "True" and not degraded_true then
  hs.status = "Healthy"
  hs.message = message_of(ready, "available")
  return hs
end

hs.status = "Degraded"
if degraded_true then
  hs.message = state .. ": " .. message_of(degraded, "degraded")
else
  hs.message = state .. ": " .. message_of(ready, "not ready")
end
return hs
