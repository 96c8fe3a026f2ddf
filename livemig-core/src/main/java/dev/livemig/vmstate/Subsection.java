package dev.livemig.vmstate;

import java.util.function.Predicate;

/**
 * A subsection of a description: written after the parent's fields iff {@code needed} says so (§4.6). Its name
 * must start with the parent's name, which is what lets the loader tell it from the caller's next bytes.
 */
public record Subsection<T>(VmStateDescription<T> description, Predicate<T> needed) {
}
