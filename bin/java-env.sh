# Sourced by the scripts in bin/: finds a Java 25 JDK and exports JAVA_HOME, or stops with a clear message.
find_java25() {
  local c v
  for c in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk /usr/lib/jvm/java-25-openjdk-amd64; do
    [[ -n $c && -x $c/bin/java ]] || continue
    v=$("$c/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    if [[ ${v%%.*} -ge 25 ]]; then echo "$c"; return 0; fi
  done
  return 1
}
if ! JAVA_HOME=$(find_java25); then
  echo "error: Java 25 is required; set JAVA_HOME to a Java 25 JDK (looked in \$JAVA_HOME and /usr/lib/jvm/temurin-25-jdk-amd64)" >&2
  exit 1
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
LLMC_JVM_FLAGS=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC
  --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
