namespace Sluice.BuildBench;

/// <summary>English sentences for calibration and, disjoint from them, held-out sentences for the accuracy comparison.</summary>
internal static class Sentences
{
    public static readonly string[] Calibration =
    [
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "Inference servers batch requests to make better use of the hardware.",
        "She bought fresh bread, cheese and a bottle of wine at the market.",
        "The committee will publish its final report early next year.",
        "Quantization maps floating point values to small integers with a scale.",
        "My grandmother grew tomatoes and beans in her small garden every summer.",
        "The train to Berlin was delayed by forty minutes because of the storm.",
        "Researchers measured the temperature of the lake every morning for a decade.",
        "Please remember to lock the door when you leave the office tonight.",
        "A good night's sleep improves memory, mood and concentration.",
        "The stock market fell sharply after the central bank raised interest rates.",
        "Children learn languages faster when they hear them spoken at home.",
        "The museum displays paintings from the seventeenth and eighteenth centuries.",
        "Our team fixed the bug that caused the server to crash under heavy load.",
        "Heavy rain is expected across the northern region over the weekend.",
        "He practised the piano for two hours before the concert began.",
        "Electric cars are becoming cheaper as battery prices continue to drop.",
        "The recipe calls for two cups of flour, one egg and a pinch of salt.",
        "Astronomers discovered a planet orbiting a star forty light years away.",
        "The library extended its opening hours during the exam period.",
        "Volunteers cleaned the beach and collected more than a ton of plastic.",
        "The new bridge will reduce travel time between the two cities by half.",
        "Doctors recommend at least thirty minutes of exercise on most days.",
        "The startup raised ten million dollars to expand into European markets.",
        "Bees play an essential role in pollinating crops and wild plants.",
        "The detective examined the footprints leading away from the window.",
        "Solar panels on the roof now provide most of the building's electricity.",
        "The orchestra performed a symphony that had not been heard in a century.",
        "Customers can return the product within thirty days for a full refund.",
        "The mountain trail is closed in winter because of the risk of avalanches.",
        "Machine learning models need representative data to generalise well.",
        "The city council approved a plan to plant ten thousand new trees.",
    ];

    public static readonly string[] HeldOut =
    [
        "A cat slept in a patch of sunlight on the kitchen floor.",
        "The airline cancelled several flights because of a strike by pilots.",
        "Sentence embeddings place similar meanings close together in vector space.",
        "The farmers harvested the wheat before the first autumn frost.",
        "Our latency budget for a single request is fifty milliseconds.",
        "The novel tells the story of a family across three generations.",
        "Scientists are studying how coral reefs recover after bleaching events.",
        "He forgot his umbrella and arrived at the meeting completely soaked.",
        "The software update adds support for larger batch sizes on the GPU.",
        "Tourists crowded the old town square to watch the fireworks.",
        "The hospital opened a new wing dedicated to children's health.",
        "Prices of fresh vegetables rose after a poor harvest in the south.",
        "The students built a small robot that can sort recycling by material.",
        "An old lighthouse still guides ships along the rocky coastline.",
        "The chef prepared a soup of roasted pumpkin with ginger and cream.",
        "Voters will choose a new mayor in the election next month.",
        "The engine compiles the model once, offline, for the target hardware.",
        "Wolves returned to the national park after an absence of seventy years.",
        "The company promised to reduce its carbon emissions by half by 2030.",
        "A sudden power cut left the whole neighbourhood in darkness.",
        "The violinist tuned her instrument carefully before the recital.",
        "Reading aloud to young children builds their vocabulary.",
        "The bakery on the corner sells the best croissants in town.",
        "Engineers tested the bridge with trucks loaded with sand.",
    ];
}
