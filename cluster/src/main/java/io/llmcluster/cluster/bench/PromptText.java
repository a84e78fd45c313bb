package io.llmcluster.cluster.bench;

import java.util.SplittableRandom;

/** Deterministic filler text for benchmark prompts: common English words drawn from a seeded stream. */
final class PromptText {
    private static final String[] WORDS = ("the of and to in is that for it as with was on be by at this from or an "
            + "are not have which but all were when we there can more one has their if will each about how up out "
            + "them then she many some so these would other into time could two make like him see first water "
            + "been call who oil now find long down day did get come made may part over new sound take only little "
            + "work know place year live me back give most very after thing our just name good sentence man think "
            + "say great where help through much before line right too mean old any same tell boy follow came want "
            + "show also around form three small set put end does another well large must big even such because "
            + "turn here why ask went men read need land different home us move try kind hand picture again change "
            + "off play spell air away animal house point page letter mother answer found study still learn should "
            + "world high every near add food between own below country plant last school father keep tree never "
            + "start city earth eye light thought head under story saw left few while along might close something "
            + "seem next hard open example begin life always those both paper together got group often run").split(" ");

    private PromptText() {}

    static String words(SplittableRandom rnd, int n) {
        StringBuilder b = new StringBuilder(n * 6);
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                b.append(' ');
            }
            b.append(WORDS[rnd.nextInt(WORDS.length)]);
        }
        return b.toString();
    }
}
