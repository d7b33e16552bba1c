// 3.3 "find common problems": the normalised terms of a case's subject and description, counted per day
// to show recurring issue themes. Chinese is segmented into words with Intl.Segmenter; stop words, numbers
// and anything that is part of the customer's name, phone, e-mail or id are dropped, so no term can
// carry personal data (4.2) into a report.

/** How much of the description is read: the opening states the problem; long texts cost the hot path. */
export const DESCRIPTION_CHARS = 300;
/** Distinct terms kept per case. */
export const TERMS_PER_CASE = 24;

const segmenter = new Intl.Segmenter('zh', { granularity: 'word' });

const ENGLISH_STOP = new Set(
  `a about above after again against all also am an and any are aren't as ask asked asks at be because been before
  being below between both but by can can't cannot could couldn't customer customers did didn't do does doesn't doing
  don't down during each few for from further get got had hadn't has hasn't have haven't having he her here hers
  herself him himself his how however i i'm i've if in into is isn't it it's its itself just let me more most my
  myself need needs no nor not now of off on once only or other our ours ourselves out over own please same she
  should shouldn't since so some still such than thank thanks that that's the their theirs them themselves then
  there there's these they this those through to too under until up upon us very via want wants was wasn't we
  were weren't what when where which while who whom why will with won't would wouldn't yes yet you your yours
  yourself yourselves hello hi dear regards sir madam like one two say says said tell told never ever really
  already even much many make made know think see back new time day days today yesterday month week year`
    .split(/\s+/)
    .filter(Boolean),
);

// Function words and politeness formulas of customer-service Chinese; single characters are dropped anyway.
const CHINESE_STOP = new Set(
  `我们 你们 他们 她们 它们 我的 你的 他的 她的 您的 自己 这个 那个 这些 那些 这样 那样 这里 那里 什么 怎么 怎样 为什么 如何
  哪里 哪个 一个 一些 一下 一直 一样 已经 还是 还有 就是 只是 但是 可是 而且 并且 或者 因为 所以 如果 虽然 然后 之后 之前
  以后 以前 现在 今天 昨天 明天 时候 没有 不是 可以 可能 能够 需要 应该 希望 知道 觉得 认为 表示 进行 通过 关于 对于 由于
  您好 你好 请问 谢谢 感谢 麻烦 客户 客服 用户 问题 情况 事情 反映 咨询 要求 说明 提供 处理 告知 联系 非常 十分 比较 特别
  真的 有点 还要 不要 不能 不会 就要 目前 的话 一次 两次 多次 先生 女士 电话 手机 号码 邮箱 邮件 地址 联系方式`
    .split(/\s+/)
    .filter(Boolean),
);

const HAS_DIGIT = /\p{Nd}/u;
/** A Chinese number written in characters (八百, 一千二): an amount or a count, not a theme. */
const HAN_NUMBER = /^[零〇一二两三四五六七八九十百千万亿]+$/u;
const HAS_HAN = /\p{Script=Han}/u;
const LATIN_WORD = /^[a-z]+$/;

export interface ThemeSource {
  readonly subject: string;
  readonly description: string;
  readonly customer: {
    readonly id: string;
    readonly name: string;
    readonly phone?: string | undefined;
    readonly email?: string | undefined;
  };
}

const normalise = (text: string) => text.normalize('NFKC').toLowerCase();

interface Personal {
  /** Whole values (name, e-mail, phone, id) and Chinese name parts: removed wherever they occur in the text. */
  readonly strings: readonly string[];
  /** Every part of them (words of a name, pieces of an e-mail or id): no term may equal one. */
  readonly parts: ReadonlySet<string>;
  /** Chinese parts: no term may contain one or be contained in one ("小明" of "王小明"). */
  readonly han: readonly string[];
}

/** The customer's identifying strings and their parts. */
function personal(customer: ThemeSource['customer']): Personal {
  const whole = [customer.name, customer.email, customer.phone, customer.id]
    .filter((v): v is string => typeof v === 'string' && v.length > 0)
    .map(normalise);
  const parts = new Set<string>();
  for (const value of whole) {
    parts.add(value);
    for (const piece of value.split(/[\s@._+\-:/·,'()]+/)) if (piece.length > 0) parts.add(piece);
    if (HAS_HAN.test(value)) for (const word of segmenter.segment(value)) parts.add(word.segment);
  }
  const long = (p: string) => [...p].length >= 2;
  const han = [...parts].filter((p) => long(p) && HAS_HAN.test(p));
  const strings = [...new Set([...whole.filter((w) => w.length >= 4 || HAS_HAN.test(w)), ...han])].sort(
    (a, b) => b.length - a.length,
  );
  return { strings, parts, han };
}

/** An English word reduced to a common form: possessive and regular plural removed. */
function stem(word: string): string {
  let w = word.replace(/['’]s$/, '').replace(/['’]/g, '');
  if (!LATIN_WORD.test(w)) return w;
  if (w.length >= 5 && w.endsWith('ies')) w = `${w.slice(0, -3)}y`;
  else if (w.length >= 4 && w.endsWith('s') && !/(ss|us|is)$/.test(w)) w = w.slice(0, -1);
  return w;
}

function isPersonal(term: string, raw: string, who: Personal): boolean {
  if (who.parts.has(term) || who.parts.has(raw)) return true;
  if (!HAS_HAN.test(term)) return false;
  return who.han.some((p) => term.includes(p) || p.includes(term));
}

// Chinese with the punctuation and spaces between it: one segmenter call per stretch, not per clause.
const HAN_RUN = /\p{Script=Han}(?:[\p{Script=Han}\p{P}\p{Zs}]*\p{Script=Han})?/gu;
const NOT_WORD = /[^\p{L}\p{M}\p{N}'’]+/u;
const APOSTROPHES = /^['’]+|['’]+$/g;

/**
 * Calls `take` with each word of a text until it returns false: stretches of Chinese segmented by
 * Intl.Segmenter (its dictionary finds the words), everything else split at what is not a letter or digit
 * — as good for space-separated scripts, and forty times cheaper than the segmenter on the commit's path.
 */
function eachWord(text: string, take: (word: string) => boolean): void {
  const spaced = (part: string) => {
    for (const w of part.split(NOT_WORD)) {
      const word = w.replace(APOSTROPHES, '');
      if (word !== '' && !take(word)) return false;
    }
    return true;
  };
  let last = 0;
  for (const run of text.matchAll(HAN_RUN)) {
    if (!spaced(text.slice(last, run.index))) return;
    for (const s of segmenter.segment(run[0])) if (s.isWordLike && !take(s.segment)) return;
    last = run.index + run[0].length;
  }
  spaced(text.slice(last));
}

/** The distinct theme terms of a case, in order of appearance, at most TERMS_PER_CASE. */
export function themeTerms(source: ThemeSource): string[] {
  const who = personal(source.customer);
  let text = normalise(`${source.subject}\n${source.description.slice(0, DESCRIPTION_CHARS)}`);
  // Remove the customer's identifiers before segmenting, so a name never splits into innocent-looking words.
  for (const p of who.strings) text = text.replaceAll(p, ' ');
  const terms = new Set<string>();
  eachWord(text, (word) => {
    const term = stem(word);
    // Fewer than two characters (a single astral character is two UTF-16 units).
    if (term.length < 2 || (term.length === 2 && [...term].length < 2)) return true;
    if (HAS_DIGIT.test(term) || HAN_NUMBER.test(term)) return true;
    if (ENGLISH_STOP.has(term) || CHINESE_STOP.has(term) || ENGLISH_STOP.has(word)) return true;
    if (isPersonal(term, word, who)) return true;
    terms.add(term);
    return terms.size < TERMS_PER_CASE;
  });
  return [...terms];
}
