// A deterministic, synthetic, labelled sample for the corpus pipeline (`mathrl data sample`).
//
// Nothing here is real web text: pages are assembled from sentence templates of a few topics, so the
// numbers it gives (classifier F1, recall per round) show that the pipeline works, not how it does on
// Common Crawl. Layout written by `writeSample(dir)`:
//   pool/shard-00000.jsonl …   the pool to mine: {url, text, label} with label 'math' or 'other'
//   seeds.jsonl                seed positives (the OpenWebMath stand-in): formula-style math pages
//   labelled/train.jsonl, labelled/test.jsonl   a held-out split for `data classify train|test`
//   benchmarks/gsm8k/test.jsonl, benchmarks/math/math500_test.jsonl   the verbatim benchmark lines
//                              planted as leaks (lib/data/benchmark-excerpt.ts), laid out like ../shared/data
//   truth.json                 what was planted: leaks, URL duplicates, near duplicates
//   annotations.txt            URL patterns standing in for the manual annotation of proposed domains
//
// Topics. 'math' pages are of two kinds: formula pages (equations in LaTeX, theorem/proof vocabulary,
// like the seeds) and narrative pages (history and ideas of mathematics in plain words, no formulas),
// which a classifier trained on the seeds misses at first; the narrative pages live mostly on a few
// math domains, so the domain step of `iterate` finds them. 'other' pages are news, cooking, travel,
// sports, technology, gardening, markets (with numbers) and general history (narrative, like the
// hard math pages). The pool also holds pages with URL variants of other pages (same text), near
// duplicates of pages of 60+ words (1% of the words changed, a footer added, another URL; J ≈ 0.9),
// and pages quoting GSM8K test questions / solutions and MATH-500 problems / a short answer verbatim.
import * as fs from 'fs';
import * as path from 'path';
import { Rng } from '../util/rng';
import { GSM8K_TEST_EXCERPT, MATH500_EXCERPT } from './benchmark-excerpt';

export interface SampleDoc {
  url: string;
  text: string;
  label: 'math' | 'other';
}

type Topic = 'formula' | 'narrative' | 'news' | 'cooking' | 'travel' | 'sports' | 'tech' | 'garden' | 'markets' | 'history';

const NAMES = ['Ada', 'Bruno', 'Chen', 'Dalia', 'Emil', 'Farah', 'Goran', 'Hana', 'Ivo', 'Jun', 'Kemal', 'Lena', 'Mateo', 'Noor', 'Oskar', 'Priya'];
const VARS = ['x', 'y', 'z', 't', 'u', 'n', 'k', 'm'];
const FUNCS = ['f', 'g', 'h', 'p', 'q'];

type Gen = (r: Rng) => string;
const int = (r: Rng, lo: number, hi: number) => lo + r.int(hi - lo + 1);

const TOPICS: Record<Topic, Gen[]> = {
  formula: [
    (r) => { const v = r.pick(VARS); return `Solve $${int(r, 2, 9)}${v}^2+${int(r, 11, 40)}${v}-${int(r, 11, 60)}=0$ for $${v}$ using the quadratic formula.`; },
    (r) => { const f = r.pick(FUNCS); const a = int(r, 2, 9); const n = int(r, 3, 7); return `Let $${f}(x)=${a}x^{${n}}+${int(r, 11, 30)}$; differentiating term by term gives $${f}'(x)=${a * n}x^{${n - 1}}$.`; },
    (r) => `We prove the lemma by induction on $${r.pick(['n', 'k', 'm'])}$, the base case being immediate.`,
    (r) => { const k = int(r, 2, 9); const m = int(r, 2, 6); return `The definite integral $\\int_0^{${k}} t^{${m}}\\,dt$ evaluates to $\\tfrac{${k}^{${m + 1}}}{${m + 1}}$.`; },
    (r) => `Theorem ${int(r, 1, 12)}.${int(r, 1, 9)}: every bounded monotone sequence of real numbers converges to its supremum or infimum.`,
    (r) => `Consider the ${int(r, 2, 5)}-by-${int(r, 2, 5)} matrix $M$ whose eigenvalue $\\lambda_${int(r, 1, 4)}$ has algebraic multiplicity ${int(r, 2, 4)}.`,
    () => 'Proof: suppose for contradiction that $\\sqrt{2}=a/b$ in lowest terms; then $a^2=2b^2$ forces both to be even.',
    (r) => `Taking the limit as $${r.pick(VARS)}\\to\\infty$ of the ratio of consecutive terms shows the series converges absolutely.`,
    (r) => `By the Cauchy-Schwarz inequality, $|\\langle u,v\\rangle|\\le\\|u\\|\\|v\\|$, with equality iff $u$ and $v$ are parallel (Exercise ${int(r, 1, 40)}).`,
    (r) => `The determinant of the coefficient matrix is $${int(r, 11, 99)}$, nonzero, so the linear system has a unique solution.`,
    (r) => `Corollary: the polynomial $${r.pick(FUNCS)}$ of degree ${int(r, 3, 9)} has at most that many complex roots, counted with multiplicity.`,
    (r) => `Substituting $${r.pick(VARS)}=\\sin\\theta$ turns the integrand into a rational function of $\\cos\\theta$.`,
    (r) => `Define the sequence $a_{n+1}=${int(r, 2, 5)}a_n+${int(r, 11, 19)}$ with $a_0=${int(r, 2, 9)}$ and find a closed form.`,
    (r) => `Hence the gradient $\\nabla ${r.pick(FUNCS)}$ vanishes at the critical point and the Hessian is positive definite.`,
  ],
  narrative: [
    (r) => `${r.pick(['Ramanujan', 'Noether', 'Galois', 'Hilbert', 'Euler', 'Riemann', 'Kovalevskaya', 'Grothendieck'])} left notebooks full of ideas about ${r.pick(['partitions', 'symmetries', 'modular forms', 'prime numbers', 'elliptic curves', 'continued fractions'])} that specialists still study.`,
    (r) => `Topologists regard a coffee cup and a doughnut as the same object, because one can be deformed into the other without tearing, a notion called ${r.pick(['homeomorphism', 'homotopy equivalence'])}.`,
    (r) => `The ${r.pick(['Riemann hypothesis', 'twin prime conjecture', 'Goldbach conjecture', 'abc conjecture', 'Collatz problem'])} has resisted proof for generations, although numerical evidence in its favour is overwhelming.`,
    (r) => `Wiles settled the last theorem of Fermat by connecting ${r.pick(['elliptic curves', 'Galois representations'])} with modular forms, an idea that reshaped number theory.`,
    (r) => `A group captures the symmetries of an object; its ${r.pick(['subgroups', 'cosets', 'representations', 'orbits'])} reveal structure that is invisible in the object itself.`,
    (r) => `In ${int(r, 1700, 1990)} the ${r.pick(['Academy', 'Royal Society', 'university seminar'])} heard a lecture on ${r.pick(['non-Euclidean geometry', 'transfinite cardinals', 'the calculus of variations', 'category theory', 'knot invariants'])} that many mathematicians doubted at first.`,
    (r) => `Combinatorialists count ${r.pick(['lattice paths', 'graph colourings', 'tilings', 'permutations with restrictions'])}, and surprisingly often the answers are Catalan or Fibonacci numbers.`,
    (r) => `A manifold looks flat near every point, just as the surface of the Earth seems flat to a ${r.pick(['walker', 'farmer', 'sailor'])}, yet globally it may be curved or twisted.`,
    () => 'Cantor showed that the real numbers cannot be listed one after another, so some infinities are strictly larger than others.',
    (r) => `Probability theory began with letters between Pascal and Fermat about ${r.pick(['a gambling problem', 'dividing the stakes of an unfinished game'])}.`,
    (r) => `The classification of finite simple groups, spread over tens of thousands of journal pages, was declared complete around ${int(r, 1981, 2004)}.`,
    () => 'Every even perfect number is tied to a Mersenne prime, a link that Euclid noticed and Euler completed.',
  ],
  news: [
    (r) => `The city council of ${r.pick(['Riverton', 'Lakeside', 'Northfield', 'Ashbury'])} voted on ${r.pick(['Tuesday', 'Monday', 'Thursday'])} to ${r.pick(['extend the tram line', 'close the old library', 'raise parking fees', 'plant more trees downtown'])}.`,
    (r) => `Officials said the ${r.pick(['bridge', 'hospital wing', 'school', 'stadium'])} would reopen next ${r.pick(['spring', 'autumn', 'month'])} after repairs.`,
    (r) => `${r.pick(NAMES)} ${r.pick(['Marsh', 'Okafor', 'Lindqvist', 'Rossi'])}, a local resident, told reporters the decision was ${r.pick(['long overdue', 'a disappointment', 'a surprise'])}.`,
    () => 'The mayor promised a public hearing before any final decision is made.',
    (r) => `Heavy rain caused flooding on ${r.pick(['Main Street', 'the ring road', 'several rural roads'])} and delayed commuters for hours.`,
    () => 'Police asked witnesses to come forward with any information about the incident.',
  ],
  cooking: [
    (r) => `Preheat the oven and ${r.pick(['butter a baking dish', 'line a tray with parchment', 'oil a cast iron pan'])} before you start.`,
    (r) => `Whisk the ${r.pick(['eggs', 'cream', 'yogurt'])} with ${r.pick(['sugar', 'honey', 'maple syrup'])} until pale and fluffy.`,
    (r) => `Fold in the ${r.pick(['flour', 'chopped nuts', 'blueberries', 'grated carrot'])} gently so the batter stays light.`,
    (r) => `This ${r.pick(['soup', 'stew', 'curry', 'risotto'])} tastes even better the next day, once the spices have settled.`,
    (r) => `Season with ${r.pick(['salt and pepper', 'a squeeze of lemon', 'fresh basil', 'smoked paprika'])} and serve warm.`,
    () => 'My grandmother made this recipe every Sunday, and the kitchen always smelled wonderful.',
  ],
  travel: [
    (r) => `We took the ${r.pick(['night train', 'ferry', 'early bus'])} to ${r.pick(['Lisbon', 'Kyoto', 'Oaxaca', 'Tallinn', 'Hobart'])} and arrived just after sunrise.`,
    (r) => `The old town is best explored on foot, with ${r.pick(['narrow lanes', 'hidden courtyards', 'tiny cafes'])} around every corner.`,
    (r) => `Our guesthouse had a ${r.pick(['rooftop terrace', 'garden', 'view of the harbour'])} and the owners were very welcoming.`,
    () => 'Pack light, bring comfortable shoes, and always carry some cash for the markets.',
    (r) => `The hike to the ${r.pick(['waterfall', 'monastery', 'ridge', 'lighthouse'])} takes most of a day but the views are worth it.`,
    () => 'Local buses are cheap and frequent, though timetables can be hard to find online.',
  ],
  sports: [
    (r) => `${r.pick(NAMES)} scored twice as the ${r.pick(['Rovers', 'United', 'Falcons', 'Wolves'])} beat the ${r.pick(['Rangers', 'City', 'Hawks', 'Bears'])} ${int(r, 2, 5)}-${int(r, 0, 1)} on ${r.pick(['Saturday', 'Sunday'])}.`,
    (r) => `The coach praised the defence after a ${r.pick(['hard-fought', 'scrappy', 'dominant'])} performance in front of a sold-out crowd.`,
    (r) => `With ${int(r, 2, 9)} games left, the team sits ${int(r, 2, 8)} points clear at the top of the table.`,
    () => 'The captain is expected to miss the next match with a hamstring injury.',
    (r) => `Fans queued for hours to buy tickets for the ${r.pick(['derby', 'cup final', 'season opener'])}.`,
    () => 'The referee was criticised for a late penalty decision that changed the game.',
  ],
  tech: [
    (r) => `The new ${r.pick(['laptop', 'phone', 'router', 'smartwatch'])} ships with a faster chip and a brighter screen.`,
    (r) => `Update your ${r.pick(['browser', 'operating system', 'password manager'])} to patch the security hole reported this week.`,
    (r) => `Developers can install the ${r.pick(['command line tool', 'plugin', 'library'])} with the usual package manager and a single command.`,
    () => 'Battery life improved noticeably in our tests, lasting well over a full working day.',
    (r) => `The ${r.pick(['startup', 'company', 'open source project'])} announced a redesigned interface and a dark mode.`,
    () => 'Reviewers liked the keyboard but found the speakers disappointing.',
  ],
  garden: [
    (r) => `Sow ${r.pick(['tomatoes', 'beans', 'lettuce', 'sunflowers', 'carrots'])} after the last frost, in a sunny spot with rich soil.`,
    (r) => `Mulch around the ${r.pick(['roses', 'shrubs', 'fruit trees'])} keeps the roots cool and the weeds down.`,
    () => 'Water deeply once a week rather than a little every day, so the roots grow down.',
    (r) => `Slugs love young ${r.pick(['hostas', 'seedlings', 'lettuces'])}; a ring of crushed eggshells can help.`,
    () => 'Compost kitchen scraps and fallen leaves to feed the beds next spring.',
    () => 'Prune in late winter while the plants are dormant.',
  ],
  markets: [
    (r) => `Shares of ${r.pick(['Northwind', 'Globex', 'Initech', 'Umbrella'])} rose ${int(r, 1, 9)}.${int(r, 1, 9)} percent after the quarterly report beat expectations.`,
    (r) => `The central bank left its key rate at ${int(r, 1, 5)}.${int(r, 0, 9)} percent, citing stubborn inflation.`,
    (r) => `Oil prices fell for a ${r.pick(['second', 'third', 'fourth'])} straight session on worries about demand.`,
    () => 'Analysts expect volatility to remain high until the election.',
    (r) => `The index closed ${r.pick(['higher', 'lower', 'flat'])} at ${int(r, 3000, 9000)} points on thin trading volume.`,
    () => 'Investors moved money into bonds as growth forecasts were cut.',
  ],
  history: [
    (r) => `In ${int(r, 1200, 1950)} the ${r.pick(['duke', 'council', 'merchants', 'abbey'])} of ${r.pick(['Venice', 'Bruges', 'Novgorod', 'Toledo'])} signed a treaty that reshaped regional trade.`,
    (r) => `The ${r.pick(['castle', 'cathedral', 'canal', 'railway'])} took decades to build and employed thousands of workers.`,
    (r) => `Letters from ${r.pick(['soldiers', 'sailors', 'pilgrims', 'settlers'])} describe hunger, boredom and sudden danger.`,
    () => 'Historians still argue about the causes of the rebellion and the role of the harvest failures.',
    (r) => `The ${r.pick(['queen', 'emperor', 'archbishop'])} commissioned a famous tapestry to celebrate the victory.`,
    () => 'Archaeologists found coins, pottery and tools buried beneath the old market square.',
  ],
};

const INTROS: Record<Topic, string[]> = {
  formula: ['Lecture notes', 'Worked example', 'Exercise solutions', 'Study guide'],
  narrative: ['Essay', 'Mathematics in history', 'Reading notes', 'Ideas explained'],
  news: ['Local news', 'Breaking', 'City desk'],
  cooking: ['Recipe', 'From the kitchen'],
  travel: ['Travel diary', 'Trip report'],
  sports: ['Match report', 'Sports roundup'],
  tech: ['Review', 'Tech news'],
  garden: ['Garden diary', 'Growing tips'],
  markets: ['Markets today', 'Business'],
  history: ['History magazine', 'From the archives'],
};

// Free sentences: subject, verb, object and a closing phrase drawn per topic, so that two pages of
// one topic share few 5-word shingles (templates alone would make them near duplicates).
const GRAMMAR: Record<Topic, [string[], string[], string[], string[]]> = {
  formula: [
    ['the lemma', 'this identity', 'the estimate', 'our bound', 'the recurrence', 'the proposition', 'the inequality', 'the substitution', 'the limit', 'the series', 'the derivative', 'the integral'],
    ['implies', 'shows', 'yields', 'bounds', 'generalises', 'reduces to', 'simplifies', 'determines', 'contradicts', 'characterises'],
    ['the kernel of the map', 'a convergent subsequence', 'the Taylor expansion', 'the inverse matrix', 'a unique fixed point', 'the residue at the pole', 'the orthogonal complement', 'the eigenvector basis', 'the partial fractions', 'the tangent line'],
    ['for every positive integer', 'on the closed interval', 'modulo a prime', 'up to a constant factor', 'in the limit', 'by linearity', 'after completing the square', 'when the determinant vanishes', 'for all real arguments', 'in polar coordinates'],
  ],
  narrative: [
    ['the young mathematician', 'her doctoral student', 'the Cambridge circle', 'a Hungarian prodigy', 'the Bourbaki group', 'an amateur number theorist', 'the old professor', 'a correspondence network', 'the Göttingen school', 'a self-taught clerk'],
    ['rediscovered', 'popularised', 'questioned', 'reformulated', 'extended', 'championed', 'abandoned', 'unified'],
    ['the theory of ideals', 'infinite series of primes', 'the idea of a group', 'axioms for geometry', 'the notion of dimension', 'results on partitions', 'the language of categories', 'methods of counting', 'the theory of knots', 'invariants of surfaces'],
    ['decades before anyone understood it', 'in a famous lecture', 'against fierce criticism', 'in letters to colleagues', 'in a slim monograph', 'long after the original conjecture', 'while travelling through Europe', 'during the war years'],
  ],
  news: [
    ['the council', 'local officials', 'the transport agency', 'residents', 'the school board', 'the regional governor', 'shop owners', 'a union spokesperson', 'the fire service', 'the health authority'],
    ['criticised', 'approved', 'postponed', 'announced', 'rejected', 'welcomed', 'questioned', 'defended'],
    ['the new budget', 'a plan for cycle lanes', 'the closure of the depot', 'higher water charges', 'the housing project', 'a curfew for the park', 'the merger of two clinics', 'longer opening hours'],
    ['on Wednesday evening', 'after months of debate', 'despite protests outside', 'in a brief statement', 'at a crowded meeting', 'ahead of the election', 'without explanation', 'late last night'],
  ],
  cooking: [
    ['the sauce', 'this dough', 'the roasted squash', 'a pinch of cumin', 'the marinade', 'fresh ginger', 'the caramel', 'a splash of vinegar', 'the pastry', 'brown butter'],
    ['brightens', 'thickens', 'balances', 'softens', 'lifts', 'rescues', 'complements', 'deepens'],
    ['the whole dish', 'the roasted vegetables', 'a simple weeknight dinner', 'the lentil stew', 'the chocolate tart', 'crispy potatoes', 'the grilled fish', 'a bowl of noodles'],
    ['in minutes', 'without much effort', 'if you let it rest', 'on a cold evening', 'when served warm', 'with crusty bread', 'for a crowd', 'straight from the oven'],
  ],
  travel: [
    ['the ferry crossing', 'our host', 'the market', 'the mountain road', 'a tiny museum', 'the harbour', 'the night bus', 'the old quarter', 'a local guide', 'the coastal path'],
    ['surprised', 'delighted', 'exhausted', 'charmed', 'confused', 'impressed', 'rewarded', 'tested'],
    ['every visitor', 'our small group', 'the other backpackers', 'my travel partner', 'the whole family', 'two tired hikers', 'the cyclists', 'us both'],
    ['at dawn', 'in the pouring rain', 'after a long detour', 'on our last day', 'during the festival', 'for almost nothing', 'despite the crowds', 'beyond all expectations'],
  ],
  sports: [
    ['the striker', 'the young goalkeeper', 'the visiting side', 'the home crowd', 'the veteran midfielder', 'the new manager', 'the substitute', 'the defence', 'the captain', 'the winger'],
    ['outplayed', 'frustrated', 'stunned', 'outran', 'silenced', 'inspired', 'dominated', 'thanked'],
    ['the league leaders', 'their rivals', 'the travelling fans', 'the struggling champions', 'the opposition', 'a packed stadium', 'the referee', 'the cup holders'],
    ['in stoppage time', 'before half time', 'with a late header', 'after a tense shootout', 'in the second half', 'on a freezing night', 'against the odds', 'for the first time this season'],
  ],
  tech: [
    ['the update', 'the new chip', 'the budget model', 'this release', 'the companion app', 'the cloud service', 'the camera module', 'the installer', 'the firmware', 'the beta'],
    ['fixes', 'breaks', 'speeds up', 'replaces', 'simplifies', 'complicates', 'drains', 'improves'],
    ['the battery life', 'older accounts', 'the sync feature', 'the login screen', 'background downloads', 'video playback', 'the settings menu', 'wireless pairing'],
    ['on most devices', 'in our tests', 'for some users', 'after a restart', 'out of the box', 'at launch', 'on slower networks', 'with default settings'],
  ],
  garden: [
    ['the climbing beans', 'our apple tree', 'the herb bed', 'a clump of irises', 'the potatoes', 'the hedge', 'the pumpkin patch', 'young leeks', 'the rhubarb', 'the lavender'],
    ['needs', 'survived', 'outgrew', 'shaded', 'attracted', 'tolerates', 'loves', 'crowded'],
    ['the vegetable plot', 'plenty of bees', 'the gravel path', 'the cold frame', 'the neighbouring roses', 'a sunny wall', 'the water butt', 'the greenhouse'],
    ['all summer', 'after the storm', 'in heavy clay', 'with little care', 'through the drought', 'once established', 'every other year', 'by late autumn'],
  ],
  markets: [
    ['bank stocks', 'the euro', 'copper futures', 'tech shares', 'government bonds', 'retail sales', 'the housing index', 'shipping firms', 'small caps', 'gold'],
    ['slipped against', 'outperformed', 'tracked', 'lagged', 'rallied with', 'weighed on', 'recovered beside', 'mirrored'],
    ['the broader market', 'energy prices', 'the dollar', 'consumer confidence', 'earnings forecasts', 'mortgage rates', 'export orders', 'the bond yields'],
    ['in early trading', 'after the jobs report', 'for the week', 'despite upbeat guidance', 'ahead of the rate decision', 'on profit taking', 'into the close', 'amid trade tensions'],
  ],
  history: [
    ['the guild', 'a wealthy widow', 'the garrison', 'the monks', 'the rebel army', 'a travelling scribe', 'the royal court', 'the harbour masters', 'the peasants', 'the bishop'],
    ['petitioned', 'betrayed', 'supplied', 'besieged', 'chronicled', 'taxed', 'sheltered', 'defied'],
    ['the northern towns', 'the salt merchants', 'the crusaders', 'the new dynasty', 'the river ports', 'a rival abbey', 'the city walls', 'the frontier forts'],
    ['during the famine', 'for three winters', 'after the plague', 'before the treaty', 'under the old charter', 'in the spring of that year', 'without royal consent', 'as the empire declined'],
  ],
};

function freeSentence(r: Rng, topic: Topic): string {
  const [s, v, o, t] = GRAMMAR[topic];
  const first = r.pick(s);
  return `${first[0].toUpperCase()}${first.slice(1)} ${r.pick(v)} ${r.pick(o)} ${r.pick(t)}.`;
}

const ALL_TOPICS = Object.keys(TOPICS) as Topic[];

/** A page of `topic`: 2-22 sentences, about 10% of them from a random other topic (asides, ads). */
export function makePage(r: Rng, topic: Topic, sentences = r.next() < 0.15 ? int(r, 2, 5) : int(r, 6, 22)): string {
  const parts = [`${r.pick(INTROS[topic])}.`];
  for (let i = 0; i < sentences; i++) {
    const t = r.next() < 0.1 ? r.pick(ALL_TOPICS) : topic;
    parts.push(r.next() < 0.55 ? freeSentence(r, t) : r.pick(TOPICS[t])(r));
  }
  return parts.join(' ');
}

const OTHER_TOPICS: Topic[] = ['news', 'cooking', 'travel', 'sports', 'tech', 'garden', 'markets', 'history'];

interface DomainSpec {
  host: string;
  /** Share of the pool's pages. */
  share: number;
  mix: Partial<Record<Topic, number>>;
  section: string;
}

const FORUM = 'forum.example.com';

const DOMAINS: DomainSpec[] = [
  { host: 'algebra-notes.example.org', share: 0.04, mix: { formula: 1 }, section: 'notes' },
  { host: 'calculus.example.edu', share: 0.04, mix: { formula: 0.9, news: 0.1 }, section: 'lectures' },
  { host: 'mathhistory.example.org', share: 0.035, mix: { formula: 0.3, narrative: 0.7 }, section: 'essays' },
  { host: 'numbertheory.example.net', share: 0.03, mix: { formula: 0.25, narrative: 0.75 }, section: 'posts' },
  { host: FORUM, share: 0.13, mix: { formula: 0.12, narrative: 0.03, tech: 0.3, travel: 0.2, cooking: 0.2, garden: 0.15 }, section: 'thread' },
  { host: 'news.example.com', share: 0.12, mix: { news: 1 }, section: 'story' },
  { host: 'recipes.example.net', share: 0.09, mix: { cooking: 1 }, section: 'recipe' },
  { host: 'travel.example.org', share: 0.09, mix: { travel: 1 }, section: 'trips' },
  { host: 'sportsdaily.example.com', share: 0.09, mix: { sports: 1 }, section: 'match' },
  { host: 'techblog.example.io', share: 0.08, mix: { tech: 1 }, section: 'review' },
  { host: 'garden.example.org', share: 0.06, mix: { garden: 1 }, section: 'tips' },
  { host: 'markets.example.com', share: 0.08, mix: { markets: 1 }, section: 'markets' },
  { host: 'history-mag.example.org', share: 0.06, mix: { history: 1 }, section: 'articles' },
];
/** The rest of the pool: small blogs of 1-6 pages each. */
const BLOG_SHARE = 1 - DOMAINS.reduce((a, d) => a + d.share, 0);

function pickTopic(r: Rng, mix: Partial<Record<Topic, number>>): Topic {
  const entries = Object.entries(mix) as [Topic, number][];
  let u = r.next() * entries.reduce((a, [, w]) => a + w, 0);
  for (const [t, w] of entries) {
    u -= w;
    if (u < 0) return t;
  }
  return entries[entries.length - 1][0];
}

const labelOf = (t: Topic): 'math' | 'other' => (t === 'formula' || t === 'narrative' ? 'math' : 'other');

export interface PlantedLeak {
  url: string;
  source: 'gsm8k' | 'math500';
  field: string;
  rule: 'ngram' | 'short';
}

export interface SampleTruth {
  leaks: PlantedLeak[];
  urlDuplicates: { url: string; of: string }[];
  nearDuplicates: { url: string; of: string }[];
}

export interface SamplePool {
  pool: SampleDoc[];
  seeds: SampleDoc[];
  train: SampleDoc[];
  test: SampleDoc[];
  truth: SampleTruth;
}

export interface SampleOptions {
  /** Pages in the pool before duplicates and leaks are added (default 3000). */
  docs?: number;
  /** Seed positives (default 300). */
  seeds?: number;
  /** Labelled pages, split 2:1 into train and test (default 2400). */
  labelled?: number;
  seed?: number;
}

function slug(r: Rng): string {
  const w = ['intro', 'notes', 'guide', 'update', 'review', 'part', 'day', 'week', 'best', 'new', 'why', 'how'];
  return `${r.pick(w)}-${r.pick(w)}-${int(r, 1, 99999)}`;
}

function urlVariant(r: Rng, url: string): string {
  const u = new URL(url);
  const variants = [
    () => `http://www.${u.host}${u.pathname}`,
    () => `${url}/`,
    () => `${url}?utm_source=newsletter&utm_medium=email`,
    () => `${url}#comments`,
    () => `https://${u.host.toUpperCase()}${u.pathname}/index.html`,
    () => `https://${u.host}:443${u.pathname}?fbclid=abc${int(r, 1, 999)}`,
  ];
  return r.pick(variants)();
}

function perturb(r: Rng, text: string): string {
  const w = text.split(' ');
  const fill = ['really', 'also', 'indeed', 'then', 'still', 'just'];
  const n = Math.max(1, Math.round(w.length * 0.01));
  for (let i = 0; i < n; i++) w[1 + r.int(w.length - 1)] = r.pick(fill);
  return w.join(' ') + ' ' + r.pick(['Share this page.', 'Comments are closed.', 'Posted in General.']);
}

/** Builds the whole sample in memory (deterministic for a given seed). */
export function makeSample(opts: SampleOptions = {}): SamplePool {
  const N = opts.docs ?? 3000;
  const r = new Rng(opts.seed ?? 2024);
  const pool: SampleDoc[] = [];
  const used = new Set<string>();
  const uniqueUrl = (host: string, section: string): string => {
    for (;;) {
      const u = `https://${host}/${section}/${slug(r)}`;
      if (!used.has(u)) {
        used.add(u);
        return u;
      }
    }
  };
  for (const d of DOMAINS) {
    const n = Math.round(N * d.share);
    for (let i = 0; i < n; i++) {
      const t = pickTopic(r, d.mix);
      // The forum files threads by board (/math/thread/…, /travel/thread/…).
      const section = d.host === FORUM ? `${labelOf(t) === 'math' ? 'math' : t}/thread` : d.section;
      pool.push({ url: uniqueUrl(d.host, section), text: makePage(r, t), label: labelOf(t) });
    }
  }
  let blogN = Math.round(N * BLOG_SHARE);
  for (let b = 0; blogN > 0; b++) {
    const n = Math.min(blogN, int(r, 1, 6));
    blogN -= n;
    const mathBlog = r.next() < 0.12;
    const host = `blog-${b}.example.net`;
    for (let i = 0; i < n; i++) {
      const t: Topic = mathBlog ? (r.next() < 0.7 ? 'formula' : 'narrative') : r.pick(OTHER_TOPICS);
      pool.push({ url: uniqueUrl(host, mathBlog ? 'math-notes' : 'post'), text: makePage(r, t), label: labelOf(t) });
    }
  }
  const truth: SampleTruth = { leaks: [], urlDuplicates: [], nearDuplicates: [] };
  const base = pool.length;
  // URL variants of 2% of the pages (same text), near duplicates of 3% (another URL, J ≈ 0.9).
  for (let i = 0; i < Math.round(base * 0.02); i++) {
    const o = pool[r.int(base)];
    const url = urlVariant(r, o.url);
    if (used.has(url)) continue;
    used.add(url);
    pool.push({ url, text: o.text, label: o.label });
    truth.urlDuplicates.push({ url, of: o.url });
  }
  for (let i = 0; i < Math.round(base * 0.03); i++) {
    let o = pool[r.int(base)];
    while (o.text.split(' ').length < 60) o = pool[r.int(base)];
    const url = uniqueUrl(r.next() < 0.5 ? 'mirror.example.com' : new URL(o.url).host, 'copy');
    pool.push({ url, text: perturb(r, o.text), label: o.label });
    truth.nearDuplicates.push({ url, of: o.url });
  }
  // Benchmark leaks, on the forum: GSM8K questions and solutions, MATH-500 problems (10-gram rule) and
  // one MATH-500 answer of 3-9 words (short-text rule).
  const leak = (text: string, source: 'gsm8k' | 'math500', field: string, rule: 'ngram' | 'short') => {
    const url = uniqueUrl(FORUM, 'math/thread');
    const pre = r.pick(['Homework help needed.', 'Can someone check my work?', 'Stuck on this one.']);
    const post = r.pick(['Thanks in advance!', 'Any hints appreciated.', 'I keep getting a different answer.']);
    pool.push({ url, text: `${pre} ${text} ${post}`, label: 'math' });
    truth.leaks.push({ url, source, field, rule });
  };
  const gsm = GSM8K_TEST_EXCERPT.map((l) => JSON.parse(l) as { question: string; answer: string });
  gsm.forEach((g, i) => {
    if (i < 6) leak(`Here is the problem: ${g.question}`, 'gsm8k', 'question', 'ngram');
  });
  leak(`The book's solution says: ${gsm[6].answer.replace(/<<[^<>]*>>/g, '')}`, 'gsm8k', 'answer', 'ngram');
  const math = MATH500_EXCERPT.map((l) => JSON.parse(l) as { problem: string; answer: string });
  leak(`Problem: ${math[1].problem}`, 'math500', 'problem', 'ngram');
  leak(`From a contest: ${math[2].problem}`, 'math500', 'problem', 'ngram');
  leak(`In polar form I got $${math[0].answer}$ for the point, is that right?`, 'math500', 'answer', 'short');
  r.shuffle(pool);

  const seedsR = new Rng((opts.seed ?? 2024) + 1);
  const seeds: SampleDoc[] = [];
  for (let i = 0; i < (opts.seeds ?? 300); i++) {
    seeds.push({ url: `https://seed-math.example.org/page/${i}`, text: makePage(seedsR, 'formula'), label: 'math' });
  }
  const lr = new Rng((opts.seed ?? 2024) + 2);
  const labelled: SampleDoc[] = [];
  for (let i = 0; i < (opts.labelled ?? 2400); i++) {
    const t: Topic = lr.next() < 0.45 ? (lr.next() < 0.65 ? 'formula' : 'narrative') : lr.pick(OTHER_TOPICS);
    labelled.push({ url: `https://labelled.example.org/${t}/${i}`, text: makePage(lr, t), label: labelOf(t) });
  }
  const cut = Math.round((labelled.length * 2) / 3);
  return { pool, seeds, train: labelled.slice(0, cut), test: labelled.slice(cut), truth };
}

/**
 * The stand-in for DeepSeekMath's manual annotation of proposed domains: URL patterns (matched
 * against normalised URLs) that a person would judge math-related after looking at the domains.
 */
export const ANNOTATIONS = `# URL patterns judged math-related (one regular expression a line, matched against normalised URLs)
^https://(algebra-notes|calculus|mathhistory|numbertheory)\\.example\\.[a-z]+/
^https://forum\\.example\\.com/math/
^https://blog-[0-9]+\\.example\\.net/math-notes/
`;

function writeJsonl(file: string, rows: unknown[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, rows.map((x) => JSON.stringify(x) + '\n').join(''));
}

/** Writes the sample (see the file comment for the layout); returns it. */
export function writeSample(dir: string, opts: SampleOptions & { shardSize?: number } = {}): SamplePool {
  const s = makeSample(opts);
  const shard = opts.shardSize ?? 1000;
  for (let i = 0, k = 0; i < s.pool.length; i += shard, k++) {
    writeJsonl(path.join(dir, 'pool', `shard-${String(k).padStart(5, '0')}.jsonl`), s.pool.slice(i, i + shard));
  }
  writeJsonl(path.join(dir, 'seeds.jsonl'), s.seeds);
  writeJsonl(path.join(dir, 'labelled', 'train.jsonl'), s.train);
  writeJsonl(path.join(dir, 'labelled', 'test.jsonl'), s.test);
  const bench = (f: string, lines: readonly string[]) => {
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, lines.map((l) => l + '\n').join(''));
  };
  bench(path.join(dir, 'benchmarks', 'gsm8k', 'test.jsonl'), GSM8K_TEST_EXCERPT);
  bench(path.join(dir, 'benchmarks', 'math', 'math500_test.jsonl'), MATH500_EXCERPT);
  fs.writeFileSync(path.join(dir, 'truth.json'), JSON.stringify(s.truth, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, 'annotations.txt'), ANNOTATIONS);
  return s;
}
