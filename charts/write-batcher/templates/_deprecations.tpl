{{/*
Chart values that were removed, in one list: each entry says why the value went and what, if
anything, takes its place. Setting one fails the render (install, upgrade, template) naming every
removed value set, rather than the chart silently ignoring it: a NOTES warning is read after the
upgrade went out, if at all, and deleting a value that does nothing costs one line.
values.schema.json lets each removed key through (no type), so that this message, not a generic
"additional property" error, is what the user reads. An entry and its schema key go together, once
no values file in use can still carry the value.
*/}}
{{- define "write-batcher.deprecations" -}}
{{- $removed := list }}
{{- if hasKey (.Values.healthMonitor.stall | default dict) "queryFailures" }}
{{- $removed = append $removed "healthMonitor.stall.queryFailures (HEALTH_STALL_QUERY_FAILURES) was removed: the health monitor reads each shard's statistics from its memo and never queries it, so there is no query to fail. Nothing replaces it: a shard that stops making progress is found by healthMonitor.stall.taskAttempts, taskAgeMs, flushIntervals and minMs. Delete the value." }}
{{- end }}
{{- if $removed }}
{{- fail (printf "\n\nREMOVED VALUES (see templates/_deprecations.tpl):\n- %s" (join "\n- " $removed)) }}
{{- end }}
{{- end }}
