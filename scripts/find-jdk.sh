# Sourced by ./livemig and ./test: exports JAVA_HOME pointing at a JDK 25 or newer.
java_feature() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }
# JDK 25 runs Maven 3.8 with a warning about sun.misc.Unsafe; it is harmless, keep it quiet.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
livemig_find_jdk() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    local v; v=$(java_feature "$JAVA_HOME")
    if [ -n "$v" ] && [ "${v%%.*}" -ge 25 ] 2>/dev/null; then export JAVA_HOME; return 0; fi
  fi
  local d
  for d in /usr/lib/jvm/*25* /usr/lib/jvm/*; do
    [ -x "$d/bin/javac" ] || continue
    local v; v=$(java_feature "$d")
    if [ -n "$v" ] && [ "${v%%.*}" -ge 25 ] 2>/dev/null; then export JAVA_HOME="$d"; return 0; fi
  done
  echo "livemig: no JDK 25 found (JAVA_HOME=${JAVA_HOME:-unset}, nothing usable under /usr/lib/jvm)." >&2
  echo "livemig: install one (e.g. Temurin 25) and set JAVA_HOME to it." >&2
  return 1
}
