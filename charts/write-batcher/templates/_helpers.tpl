{{/*
Names, labels and the pieces every pod shares. Component-aware helpers take
(dict "root" $ "component" "<name>"); the others take the root context.
*/}}

{{/* Chart name, a DNS label. */}}
{{- define "write-batcher.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Release-qualified name, the prefix of every resource name. Three rules keep every
`<fullname>-<component>` a valid DNS-1035 label (Services need one) and unique per release:
- at most 48 characters, so the longest component suffix ("-health-monitor", 15) still fits in
  63; a longer name keeps its first 41 characters plus a hash of the whole name, so two long
  release names that share a prefix do not collide (plain truncation made every component of a
  48+ character release the same `…-write-batche`);
- dots (allowed in release names) become dashes;
- it starts with a letter: a release named `9demo` gets `write-batcher-9demo`.
*/}}
{{- define "write-batcher.fullname" -}}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- $full := "" }}
{{- if .Values.fullnameOverride }}
{{- $full = .Values.fullnameOverride }}
{{- else if contains $name .Release.Name }}
{{- $full = .Release.Name }}
{{- else }}
{{- $full = printf "%s-%s" .Release.Name $name }}
{{- end }}
{{- $full = $full | lower | replace "." "-" }}
{{- if not (regexMatch "^[a-z]" $full) }}
{{- $full = printf "%s-%s" $name ($full | trimSuffix (printf "-%s" $name)) }}
{{- end }}
{{- if gt (len $full) 48 }}
{{- $full = printf "%s-%s" ($full | trunc 41 | trimSuffix "-") ($full | sha256sum | trunc 6) }}
{{- end }}
{{- $full }}
{{- end }}

{{/* Name of one component's resources: <fullname>-<component> (at most 63 characters, see fullname). */}}
{{- define "write-batcher.componentName" -}}
{{- printf "%s-%s" (include "write-batcher.fullname" .root) .component }}
{{- end }}

{{- define "write-batcher.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource; `component` is optional. */}}
{{- define "write-batcher.labels" -}}
{{- $root := .root | default . -}}
helm.sh/chart: {{ include "write-batcher.chart" $root }}
{{ include "write-batcher.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: write-batcher
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: stable for the life of a release (Deployment selectors are immutable). */}}
{{- define "write-batcher.selectorLabels" -}}
{{- $root := .root | default . -}}
app.kubernetes.io/name: {{ include "write-batcher.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "write-batcher.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "write-batcher.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* registry/repository:tag@digest; the tag defaults to the chart's appVersion. */}}
{{- define "write-batcher.image" -}}
{{- $repository := .Values.image.repository }}
{{- with .Values.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- $ref := printf "%s:%s" $repository (toString (.Values.image.tag | default .Chart.AppVersion)) }}
{{- with .Values.image.digest }}
{{- $ref = printf "%s@%s" $ref . }}
{{- end }}
{{- $ref }}
{{- end }}

{{/*
The services: what each one runs and which config loader sections it reads (the same lists as
SERVICE_CONFIG in packages/service-kit/src/node/config.ts; test/packaging/chart-config.test.ts
feeds the rendered env to those sections). "temporal" stands for the TEMPORAL_* variables read by
@temporalio/envconfig; "listen" (LISTEN_HOST) is set in deployment.yaml, the same for every pod.
*/}}
{{- define "write-batcher.components" -}}
batcher-worker:
  values: batcherWorker
  script: /app/services/batcher-worker/dist/main.js
  workflowBundle: /app/services/batcher-worker/dist/workflow-bundle.js
  taskQueue: batching
  sections: [log, telemetry, temporal, batcher, batching, mysql, worker, listen]
main-worker:
  values: mainWorker
  script: /app/services/main-worker/dist/main.js
  workflowBundle: /app/services/main-worker/dist/workflow-bundle.js
  taskQueue: main
  # No database and nothing registered for the writes: batchedWrite's activities run on the batcher
  # workers. No write timeouts either: the starter puts them in each workflow's input.
  sections: [log, telemetry, temporal, main, worker, listen]
health-monitor:
  values: healthMonitor
  script: /app/services/health-monitor/dist/main.js
  sections: [log, telemetry, temporal, batcher, monitor, listen]
{{- end }}

{{- define "write-batcher.starter" -}}
script: /app/services/starter/dist/main.js
sections: [log, telemetry, temporal, batcher, main, mysql, starter]
{{- end }}

{{- define "write-batcher.migration" -}}
script: /app/services/batcher-worker/dist/migrate.js
sections: [log, mysql]
{{- end }}

{{/* Where the Temporal TLS secret is mounted; the file names are fixed by the volume's items. */}}
{{- define "write-batcher.temporalTlsDir" -}}/etc/temporal/tls{{- end }}

{{/* Where the MySQL TLS secret is mounted (same convention). */}}
{{- define "write-batcher.mysqlTlsDir" -}}/etc/mysql/tls{{- end }}

{{/*
Shared configuration by loader section: variable name -> value, all strings. The ConfigMap holds
all of it; each container references only the sections its service reads.
*/}}
{{- define "write-batcher.config" -}}
{{- $tls := .Values.temporal.tls }}
log:
  LOG_LEVEL: {{ .Values.logLevel | quote }}
telemetry:
  {{- with .Values.telemetry.otlpEndpoint }}
  OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
  {{- end }}
temporal:
  TEMPORAL_ADDRESS: {{ .Values.temporal.address | quote }}
  TEMPORAL_NAMESPACE: {{ .Values.temporal.namespace | quote }}
  {{- if $tls.enabled }}
  TEMPORAL_TLS: "true"
  {{- with $tls.serverName }}
  TEMPORAL_TLS_SERVER_NAME: {{ . | quote }}
  {{- end }}
  {{- if $tls.existingSecret }}
  {{- if $tls.certKey }}
  TEMPORAL_TLS_CLIENT_CERT_PATH: {{ printf "%s/tls.crt" (include "write-batcher.temporalTlsDir" .) | quote }}
  TEMPORAL_TLS_CLIENT_KEY_PATH: {{ printf "%s/tls.key" (include "write-batcher.temporalTlsDir" .) | quote }}
  {{- end }}
  {{- if $tls.caKey }}
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: {{ printf "%s/ca.crt" (include "write-batcher.temporalTlsDir" .) | quote }}
  {{- end }}
  {{- end }}
  {{- end }}
batcher:
  BATCHER_SHARDS: {{ .Values.batching.shards | int64 | toString | quote }}
  BATCHER_TASK_QUEUE: {{ .Values.batching.taskQueue | quote }}
  BATCHER_WORKFLOW_ID_PREFIX: {{ .Values.batching.workflowIdPrefix | quote }}
batching:
  BATCH_FLUSH_POLICY: {{ .Values.batching.flushPolicy | quote }}
  BATCH_MAX_SIZE: {{ .Values.batching.maxBatchSize | int64 | toString | quote }}
  BATCH_FLUSH_INTERVAL_MS: {{ .Values.batching.flushIntervalMs | int64 | toString | quote }}
  BATCH_MAX_WRITES_IN_FLIGHT: {{ .Values.batching.maxWritesInFlight | int64 | toString | quote }}
  CONTINUE_AS_NEW_SIGNALS: {{ .Values.batching.continueAsNewSignals | int64 | toString | quote }}
  DEDUP_WINDOW_BYTES: {{ .Values.batching.dedupWindowBytes | int64 | toString | quote }}
  BATCHER_MAX_PENDING_REQUESTS: {{ .Values.batching.maxPendingRequests | int64 | toString | quote }}
  BATCHER_MAX_PENDING_BYTES: {{ .Values.batching.maxPendingBytes | int64 | toString | quote }}
  BATCHER_MAX_REQUESTS_PER_TASK: {{ .Values.batching.maxRequestsPerTask | int64 | toString | quote }}
  BATCHER_TABLES: {{ .Values.batching.tables | toJson | quote }}
  LEDGER_RETENTION_HOURS: {{ .Values.batching.ledgerRetentionHours | int64 | toString | quote }}
  SUBMIT_LINGER_MS: {{ .Values.batching.submitLingerMs | int64 | toString | quote }}
  SUBMIT_GROUP_MAX_REQUESTS: {{ .Values.batching.submitGroupMaxRequests | int64 | toString | quote }}
main:
  MAIN_TASK_QUEUE: {{ .Values.main.taskQueue | quote }}
  BUSINESS_STEP_MS: {{ .Values.main.businessStepMs | int64 | toString | quote }}
mysql:
  MYSQL_HOST: {{ .Values.mysql.host | quote }}
  MYSQL_PORT: {{ .Values.mysql.port | int64 | toString | quote }}
  MYSQL_DATABASE: {{ .Values.mysql.database | quote }}
  MYSQL_USER: {{ .Values.mysql.auth.username | quote }}
  MYSQL_POOL_SIZE: {{ .Values.mysql.poolSize | int64 | toString | quote }}
  {{- with .Values.mysql.tls }}
  MYSQL_TLS_MODE: {{ .mode | quote }}
  {{- if and (ne .mode "disabled") .existingSecret }}
  {{- if .caKey }}
  MYSQL_TLS_CA_PATH: {{ printf "%s/ca.crt" (include "write-batcher.mysqlTlsDir" $) | quote }}
  {{- end }}
  {{- if .certKey }}
  MYSQL_TLS_CERT_PATH: {{ printf "%s/tls.crt" (include "write-batcher.mysqlTlsDir" $) | quote }}
  MYSQL_TLS_KEY_PATH: {{ printf "%s/tls.key" (include "write-batcher.mysqlTlsDir" $) | quote }}
  {{- end }}
  {{- end }}
  {{- end }}
monitor:
  HEALTH_POLL_INTERVAL_MS: {{ .Values.healthMonitor.pollIntervalMs | int64 | toString | quote }}
  HEALTH_AUTO_RESTART: {{ .Values.healthMonitor.autoRestart | toString | quote }}
  HEALTH_STALL_FLUSH_INTERVALS: {{ .Values.healthMonitor.stall.flushIntervals | int64 | toString | quote }}
  HEALTH_STALL_MIN_MS: {{ .Values.healthMonitor.stall.minMs | int64 | toString | quote }}
  HEALTH_STALL_TASK_ATTEMPTS: {{ .Values.healthMonitor.stall.taskAttempts | int64 | toString | quote }}
  HEALTH_STALL_TASK_AGE_MS: {{ .Values.healthMonitor.stall.taskAgeMs | int64 | toString | quote }}
starter:
  STARTER_WORKFLOWS: {{ .Values.starter.workflows | int64 | toString | quote }}
  STARTER_WAIT: {{ .Values.starter.wait | toString | quote }}
  STARTER_WORKFLOW_ID_PREFIX: {{ .Values.starter.workflowIdPrefix | quote }}
  {{- /* The main workflows' write timeouts: the starter puts them in each workflow's input. */}}
  CONFIRMATION_TIMEOUT_MS: {{ .Values.main.confirmationTimeoutMs | int64 | toString | quote }}
  SUBMIT_ATTEMPT_TIMEOUT_MS: {{ .Values.main.submitAttemptTimeoutMs | int64 | toString | quote }}
{{- end }}

{{/* The shared configuration as one flat map (the ConfigMap's data). */}}
{{- define "write-batcher.configData" -}}
{{- $flat := dict }}
{{- range $section, $vars := include "write-batcher.config" . | fromYaml }}
{{- $flat = merge $flat ($vars | default dict) }}
{{- end }}
{{- toYaml $flat }}
{{- end }}

{{- define "write-batcher.mysqlSecretName" -}}
{{- .Values.mysql.auth.existingSecret | default (include "write-batcher.fullname" .) }}
{{- end }}

{{- define "write-batcher.mysqlPasswordKey" -}}
{{- if .Values.mysql.auth.existingSecret }}
{{- .Values.mysql.auth.existingSecretPasswordKey }}
{{- else -}}
mysql-password
{{- end }}
{{- end }}

{{/* Whether the chart's own Secret has anything to hold. */}}
{{- define "write-batcher.createSecret" -}}
{{- if or (not .Values.mysql.auth.existingSecret) (and .Values.temporal.apiKey.value (not .Values.temporal.apiKey.existingSecret)) -}}
true
{{- end }}
{{- end }}

{{/*
Environment of one container: every shared variable of its sections (from the ConfigMap, or
inline with `inline: true` for hooks that run before the ConfigMap exists), then its secrets,
then the pod identity for traces.
  args: root, sections, secretName (optional override of the MySQL secret), inline (bool)
*/}}
{{- define "write-batcher.env" -}}
{{- $root := .root }}
{{- $config := include "write-batcher.config" $root | fromYaml }}
{{- $configMap := include "write-batcher.fullname" $root }}
{{- range $section := .sections }}
{{- range $name, $value := (get $config $section | default dict) }}
- name: {{ $name }}
{{- if $.inline }}
  value: {{ $value | quote }}
{{- else }}
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: {{ $name }}
{{- end }}
{{- end }}
{{- end }}
{{- if has "mysql" .sections }}
- name: MYSQL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secretName | default (include "write-batcher.mysqlSecretName" $root) }}
      key: {{ include "write-batcher.mysqlPasswordKey" $root }}
{{- end }}
{{- if has "temporal" .sections }}
{{- with $root.Values.temporal.apiKey }}
{{- if .existingSecret }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .existingSecretKey }}
{{- else if .value }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "write-batcher.fullname" $root }}
      key: temporal-api-key
{{- end }}
{{- end }}
{{- end }}
{{- if has "telemetry" .sections }}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}
{{- end }}

{{/*
Volumes of a pod: a writable /tmp (the root filesystem is read-only) and, for pods that talk to
Temporal or MySQL, their TLS secrets.  args: root, temporal (bool), mysql (bool)
*/}}
{{- define "write-batcher.volumes" -}}
{{- $tls := .root.Values.temporal.tls }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if and .temporal $tls.enabled $tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ $tls.existingSecret }}
    defaultMode: 0440
    items:
      {{- if $tls.certKey }}
      - key: {{ $tls.certKey }}
        path: tls.crt
      - key: {{ $tls.keyKey }}
        path: tls.key
      {{- end }}
      {{- with $tls.caKey }}
      - key: {{ . }}
        path: ca.crt
      {{- end }}
{{- end }}
{{- $mysqlTls := .root.Values.mysql.tls }}
{{- if and .mysql (ne $mysqlTls.mode "disabled") $mysqlTls.existingSecret }}
- name: mysql-tls
  secret:
    secretName: {{ $mysqlTls.existingSecret }}
    defaultMode: 0440
    items:
      {{- with $mysqlTls.caKey }}
      - key: {{ . }}
        path: ca.crt
      {{- end }}
      {{- if $mysqlTls.certKey }}
      - key: {{ $mysqlTls.certKey }}
        path: tls.crt
      - key: {{ $mysqlTls.keyKey }}
        path: tls.key
      {{- end }}
{{- end }}
{{- end }}

{{/* Mounts matching write-batcher.volumes; `temporal` / `mysql`: whether the container talks to it. */}}
{{- define "write-batcher.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and .temporal .root.Values.temporal.tls.enabled .root.Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: {{ include "write-batcher.temporalTlsDir" .root }}
  readOnly: true
{{- end }}
{{- if and .mysql (ne .root.Values.mysql.tls.mode "disabled") .root.Values.mysql.tls.existingSecret }}
- name: mysql-tls
  mountPath: {{ include "write-batcher.mysqlTlsDir" .root }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Pod-level settings shared by every pod. */}}
{{- define "write-batcher.podCommon" -}}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
{{- /* No Docker-style service links: a Service named `mysql` or `temporal` in the namespace would
inject MYSQL_PORT=tcp://… or TEMPORAL_PORT into every pod and collide with the services' settings
(seen on real pods: "MYSQL_PORT: must be an integer (got "tcp://10.214.0.165:3306")"). */}}
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/* Scheduling settings of one component's values. */}}
{{- define "write-batcher.scheduling" -}}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Annotations that roll a component's pods when what it reads changes: the shared settings of
its own loader sections only (changing `starter.workflows` rolls no Deployment), and the chart's
Secret when the component reads a value from it.  args: root, sections
*/}}
{{- define "write-batcher.checksums" -}}
{{- $root := .root }}
{{- $config := include "write-batcher.config" $root | fromYaml }}
{{- $read := dict }}
{{- range $section := .sections }}
{{- $_ := set $read $section (get $config $section | default dict) }}
{{- end }}
checksum/config: {{ toYaml $read | sha256sum }}
{{- if include "write-batcher.createSecret" $root }}
{{- $secret := include "write-batcher.secretData" $root | fromYaml | default dict }}
{{- $used := dict }}
{{- if has "mysql" .sections }}{{ $_ := set $used "mysql-password" (get $secret "mysql-password") }}{{ end }}
{{- if has "temporal" .sections }}{{ $_ := set $used "temporal-api-key" (get $secret "temporal-api-key") }}{{ end }}
checksum/secret: {{ toYaml $used | sha256sum }}
{{- end }}
{{- end }}

{{/* Data of the chart's Secret (values are base64-encoded). */}}
{{- define "write-batcher.secretData" -}}
{{- if not .Values.mysql.auth.existingSecret }}
mysql-password: {{ .Values.mysql.auth.password | toString | b64enc | quote }}
{{- end }}
{{- if and .Values.temporal.apiKey.value (not .Values.temporal.apiKey.existingSecret) }}
temporal-api-key: {{ .Values.temporal.apiKey.value | b64enc | quote }}
{{- end }}
{{- end }}

{{/* Egress of every NetworkPolicy: anywhere, or DNS plus networkPolicy.extraEgress. */}}
{{- define "write-batcher.networkPolicyEgress" -}}
{{- if .Values.networkPolicy.allowExternalEgress }}
- {}
{{- else }}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- with .Values.networkPolicy.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end }}

{{/* Checks across values that values.schema.json cannot express. */}}
{{- define "write-batcher.validate" -}}
{{- range $component, $c := include "write-batcher.components" . | fromYaml }}
{{- $v := index $.Values $c.values }}
{{- if hasKey $v "shutdownGraceMs" }}
{{- if ge (int64 $v.shutdownGraceMs) (mul (int64 $v.terminationGracePeriodSeconds) 1000) }}
{{- fail (printf "%s.shutdownGraceMs (%v ms) must be below %s.terminationGracePeriodSeconds (%v s): the kubelet would kill the worker while it drains" $c.values $v.shutdownGraceMs $c.values $v.terminationGracePeriodSeconds) }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.temporal.tls }}
{{- if and .existingSecret (not (or .certKey .caKey)) }}
{{- fail "temporal.tls.existingSecret is set but neither temporal.tls.certKey nor temporal.tls.caKey names a key in it" }}
{{- end }}
{{- if ne (empty .certKey) (empty .keyKey) }}
{{- fail "temporal.tls.certKey and temporal.tls.keyKey go together: set both for mTLS, or clear both for a CA-only secret" }}
{{- end }}
{{- end }}
{{- with .Values.mysql.tls }}
{{- if ne (empty .certKey) (empty .keyKey) }}
{{- fail "mysql.tls.certKey and mysql.tls.keyKey go together: set both for a client certificate, or clear both" }}
{{- end }}
{{- if and .existingSecret (eq .mode "disabled") }}
{{- fail "mysql.tls.existingSecret is set but mysql.tls.mode is disabled: set mode to required, verify-ca or verify-full" }}
{{- end }}
{{- if and (has .mode (list "verify-ca" "verify-full")) .existingSecret (not .caKey) }}
{{- fail (printf "mysql.tls.mode %s with mysql.tls.existingSecret needs mysql.tls.caKey (clear existingSecret to trust the image's system roots)" .mode) }}
{{- end }}
{{- end }}
{{- if and .Values.temporal.tls.existingSecret (not .Values.temporal.tls.enabled) }}
{{- fail "temporal.tls.existingSecret is set but temporal.tls.enabled is false: enable TLS to use the client certificate" }}
{{- end }}
{{- end }}

{{/*
Pod template of a run-to-completion Job (starter, migration).
  args: root, component, values (the Job's values), spec (script + sections), secretName,
        inline, hook (a pre-install hook: the release's ServiceAccount does not exist yet)
*/}}
{{- define "write-batcher.jobPodTemplate" -}}
{{- $root := .root }}
{{- $v := .values }}
{{- $ctx := dict "root" $root "component" .component }}
{{- $temporal := has "temporal" .spec.sections }}
{{- $mysql := has "mysql" .spec.sections }}
metadata:
  labels:
    {{- include "write-batcher.labels" $ctx | trim | nindent 4 }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $v.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- if .hook }}
  {{- /* A pre-install hook runs before the chart's ServiceAccount exists. */}}
  {{- if not $root.Values.serviceAccount.create }}
  serviceAccountName: {{ include "write-batcher.serviceAccountName" $root }}
  {{- end }}
  {{- else }}
  serviceAccountName: {{ include "write-batcher.serviceAccountName" $root }}
  {{- end }}
  {{- include "write-batcher.podCommon" $root | trim | nindent 2 }}
  restartPolicy: Never
  {{- with include "write-batcher.scheduling" $v | trim }}
  {{- . | nindent 2 }}
  {{- end }}
  containers:
    - name: {{ .component }}
      image: {{ include "write-batcher.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: ["node", {{ .spec.script | quote }}]
      securityContext:
        {{- toYaml $root.Values.containerSecurityContext | nindent 8 }}
      env:
        {{- include "write-batcher.env" (dict "root" $root "sections" .spec.sections "secretName" .secretName "inline" .inline) | trim | nindent 8 }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      volumeMounts:
        {{- include "write-batcher.volumeMounts" (dict "root" $root "temporal" $temporal "mysql" $mysql) | trim | nindent 8 }}
  volumes:
    {{- include "write-batcher.volumes" (dict "root" $root "temporal" $temporal "mysql" $mysql) | trim | nindent 4 }}
{{- end }}

{{/*
Which autoscaler owns a worker's replica count: "hpa", "keda" or "" (the Deployment's
replicaCount).  args: the component's values
*/}}
{{- define "write-batcher.scaler" -}}
{{- if and (hasKey . "autoscaling") .autoscaling.enabled -}}
hpa
{{- else if and (hasKey . "keda") .keda.enabled -}}
keda
{{- end }}
{{- end }}

{{/*
`replicas` of a Deployment. Without an autoscaler: replicaCount. With one, the autoscaler owns
the count, but leaving `replicas` out of the manifest is not enough: on the upgrade that turns
the autoscaler on, Helm's three-way merge sees `replicas` removed and deletes it from the live
object, the API server defaults it to 1, and the Deployment drops to one pod until the
autoscaler's next sync scales it up again (~15 s). So the chart keeps writing `replicas`, as the
live value (looked up from the cluster), never below the autoscaler's minimum: an unchanged
value is not patched, so the autoscaler's decisions stand. `helm template` has no cluster and
renders the minimum.  args: root, component, values
*/}}
{{- define "write-batcher.replicas" -}}
{{- $v := .values }}
{{- $scaler := include "write-batcher.scaler" $v }}
{{- if not $scaler }}
{{- $v.replicaCount }}
{{- else }}
{{- $min := ternary $v.autoscaling.minReplicas $v.keda.minReplicaCount (eq $scaler "hpa") | int64 }}
{{- $live := lookup "apps/v1" "Deployment" .root.Release.Namespace (include "write-batcher.componentName" .) }}
{{- $replicas := $min }}
{{- if and $live $live.spec (hasKey $live.spec "replicas") }}
{{- $replicas = max $min (int64 $live.spec.replicas) }}
{{- end }}
{{- $replicas }}
{{- end }}
{{- end }}

{{/*
Fails, naming the CRD, when a value asks for a custom resource whose API the cluster lacks (the
whole install would otherwise fail on "no matches for kind"). `helm template` needs
`--api-versions <group/version/Kind>` for it.  args: root, api, crd, value, provider
*/}}
{{- define "write-batcher.requireApi" -}}
{{- if not (.root.Capabilities.APIVersions.Has .api) }}
{{- fail (printf "%s is true, but the cluster serves no %s (CRD %s from %s). Install it first, or set %s=false" .value .api .crd .provider .value) }}
{{- end }}
{{- end }}
