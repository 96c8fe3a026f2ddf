package dev.livemig.examples;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The Java in README.md's "Use it from Java" is the example's code as compiled here, not a copy that drifts. */
class ReadmeSnippetTest {
    @Test
    void theReadmeShowsTheExampleAsItIs() throws Exception {
        String source = Files.readString(Path.of("src/main/java/dev/livemig/examples/SessionStore.java"));
        String shown = source.substring(source.indexOf("/**\n * A service whose state"));
        String readme = Files.readString(Path.of("../README.md"));
        int section = readme.indexOf("## Use it from Java");
        assertTrue(section >= 0, "README.md has a section \"Use it from Java\"");
        int start = readme.indexOf("```java\n", section) + "```java\n".length();
        int end = readme.indexOf("```", start);
        assertEquals(shown, readme.substring(start, end), "README.md's snippet differs from SessionStore.java");
    }
}
