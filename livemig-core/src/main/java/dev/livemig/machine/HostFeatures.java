package dev.livemig.machine;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Which kernel features livemig may use: whatever the host offers, less those switched off. Switching a
 * feature off forces its fallback ({@link KernelFeature#fallback()}), for a user who distrusts the feature
 * on a given kernel, and for tests that prove the fallback on hosts that have the feature.
 *
 * <p>Immutable; a {@link dev.livemig.machine.Machine} holds one for its whole life. Processes take theirs
 * from the system property {@value #PROPERTY}, a comma-separated list of {@link KernelFeature#key()}s
 * (e.g. {@code -Dlivemig.disable=userfaultfd-wp,pagemap-scan}); {@code all} switches every feature off.
 */
public record HostFeatures(Set<KernelFeature> disabled) {
    /** The system property a process reads its switched-off features from ({@link #fromSystemProperties()}). */
    public static final String PROPERTY = "livemig.disable";
    /** Every feature the kernel offers may be used. */
    public static final HostFeatures ALL = new HostFeatures(Set.of());

    public HostFeatures {
        disabled = disabled.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(disabled));
    }

    /** The features named in {@code list} switched off; unknown names are refused with the known ones listed. */
    public static HostFeatures parse(String list) {
        EnumSet<KernelFeature> off = EnumSet.noneOf(KernelFeature.class);
        for (String name : list.split(",")) {
            String key = name.strip();
            if (key.isEmpty()) {
                continue;
            }
            if (key.equals("all")) {
                off.addAll(EnumSet.allOf(KernelFeature.class));
                continue;
            }
            off.add(Arrays.stream(KernelFeature.values()).filter(f -> f.key().equals(key)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("unknown kernel feature \"" + key + "\" in "
                            + PROPERTY + "; known: all, " + Arrays.stream(KernelFeature.values())
                            .map(KernelFeature::key).collect(Collectors.joining(", ")))));
        }
        return new HostFeatures(off);
    }

    /** This process's choice: {@link #parse} of the system property {@value #PROPERTY} (absent: {@link #ALL}). */
    public static HostFeatures fromSystemProperties() {
        return parse(System.getProperty(PROPERTY, ""));
    }

    /** These features switched off as well. */
    public HostFeatures without(KernelFeature... features) {
        EnumSet<KernelFeature> off = EnumSet.noneOf(KernelFeature.class);
        off.addAll(disabled);
        off.addAll(Arrays.asList(features));
        return new HostFeatures(off);
    }

    /** False when the feature is switched off (whether the kernel offers it is the caller's to find out). */
    public boolean allows(KernelFeature feature) {
        return !disabled.contains(feature);
    }

    /** The value of {@value #PROPERTY} that gives these features. */
    @Override
    public String toString() {
        return Arrays.stream(KernelFeature.values()).filter(disabled::contains).map(KernelFeature::key)
                .collect(Collectors.joining(","));
    }
}
