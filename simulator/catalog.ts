/**
 * The simulator's small, realistic vocabulary: companies (with Unicode names on purpose),
 * people, places, goods. Data only; world-*.ts combine it with a seeded Rng.
 */
import { hash128 } from './prng.ts';

export const ACTION_TYPES = ['view-account', 'refresh', 'change-plan', 'pause-plan', 'cancel-plan'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

export const TASK_STATUSES = ['queued', 'processing', 'completed', 'failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export interface CompanyDef {
  readonly _id: string;
  readonly name: string;
  /** Logo file name under the fake CDN; null: the company has no logo on file. */
  readonly logo: string | null;
  readonly category: string;
  /** How the charge shows on a bank statement (recurring and recent transactions). */
  readonly descriptor: string;
  readonly currency: 'USD' | 'EUR' | 'JPY';
  readonly plans: readonly string[];
  readonly price: readonly [min: number, max: number];
  /** Sells goods: its accounts may carry orders. */
  readonly sellsGoods: boolean;
}

/** Company ids are global in PayLink (the same for every user), so they derive from the name only. */
function companyId(name: string): string {
  return hash128(`company:${name}`)
    .map((n) => n.toString(16).padStart(8, '0'))
    .join('')
    .slice(0, 24);
}

type CompanyInput = Omit<CompanyDef, '_id' | 'sellsGoods'> & { sellsGoods?: boolean };

const company = (c: CompanyInput): CompanyDef => ({
  ...c,
  _id: companyId(c.name),
  sellsGoods: c.sellsGoods ?? false,
});

export const COMPANIES: readonly CompanyDef[] = [
  company({
    name: 'Netflix',
    logo: 'netflix.png',
    category: 'streaming',
    descriptor: 'NETFLIX.COM 866-579-7172 CA',
    currency: 'USD',
    plans: ['Netflix Standard', 'Netflix Premium', 'Standard with ads'],
    price: [6.99, 22.99],
  }),
  company({
    name: 'Spotify',
    logo: 'spotify.png',
    category: 'streaming',
    descriptor: 'SPOTIFY USA',
    currency: 'USD',
    plans: ['Premium Individual', 'Premium Duo', 'Premium Family'],
    price: [10.99, 19.99],
  }),
  company({
    name: 'Comcast Xfinity',
    logo: 'xfinity.svg',
    category: 'internet',
    descriptor: 'COMCAST CABLE COMM',
    currency: 'USD',
    plans: ['Xfinity Internet 300 Mbps', 'Xfinity TV Select', 'Xfinity Mobile Unlimited'],
    price: [40, 180],
  }),
  company({
    name: 'Amazon',
    logo: 'amazon.png',
    category: 'shopping',
    descriptor: 'AMZN Mktp US*2K41J0XQ2',
    currency: 'USD',
    plans: ['Prime Monthly', 'Prime Video Channels'],
    price: [8.99, 14.99],
    sellsGoods: true,
  }),
  company({
    name: 'Hulu',
    logo: 'hulu.png',
    category: 'streaming',
    descriptor: 'HULU 877-8244858 CA',
    currency: 'USD',
    plans: ['Hulu (With Ads)', 'Hulu (No Ads)', 'Hulu + Live TV'],
    price: [9.99, 82.99],
  }),
  company({
    name: 'PG&E',
    logo: null,
    category: 'utilities',
    descriptor: 'PGANDE WEB ONLINE',
    currency: 'USD',
    plans: ['Electric Service', 'Gas Service'],
    price: [45, 320],
  }),
  company({
    name: 'Verizon',
    logo: 'verizon.png',
    category: 'telecom',
    descriptor: 'VZWRLSS*APOCC VISB',
    currency: 'USD',
    plans: ['Unlimited Welcome', 'Unlimited Plus', '5G Home Internet'],
    price: [35, 140],
  }),
  company({
    name: 'Disney+',
    logo: 'disney-plus.png',
    category: 'streaming',
    descriptor: 'DISNEY PLUS 888-905-7888',
    currency: 'USD',
    plans: ['Disney+ Basic', 'Disney+ Premium'],
    price: [9.99, 15.99],
  }),
  company({
    name: 'Électricité de France',
    logo: 'edf.png',
    category: 'utilities',
    descriptor: 'PRLV SEPA EDF CLIENTS PARTICULIERS',
    currency: 'EUR',
    plans: ['Tarif Bleu', 'Zen Week-End', 'Vert Électrique'],
    price: [38, 210],
  }),
  company({
    name: 'Müller Stadtwerke',
    logo: null,
    category: 'utilities',
    descriptor: 'LASTSCHRIFT STADTWERKE MUELLER',
    currency: 'EUR',
    plans: ['Strom Grundversorgung', 'Fernwärme Komfort'],
    price: [42, 260],
  }),
  company({
    name: 'AT&T',
    logo: 'att.png',
    category: 'telecom',
    descriptor: 'ATT*BILL PAYMENT',
    currency: 'USD',
    plans: ['AT&T Unlimited Starter', 'AT&T Fiber 500'],
    price: [55, 120],
  }),
  company({
    name: 'YouTube Premium',
    logo: 'youtube.png',
    category: 'streaming',
    descriptor: 'Google *YouTubePremium',
    currency: 'USD',
    plans: ['Individual', 'Family'],
    price: [13.99, 22.99],
  }),
  company({
    name: 'The New York Times',
    logo: 'nyt.png',
    category: 'news',
    descriptor: 'NYTIMES*NYTIMES SUBSCR',
    currency: 'USD',
    plans: ['All Access', 'News'],
    price: [4, 25],
  }),
  company({
    name: 'Planet Fitness',
    logo: 'planet-fitness.png',
    category: 'fitness',
    descriptor: 'PLANET FITNESS CLUB FEES',
    currency: 'USD',
    plans: ['Classic', 'Black Card'],
    price: [15, 24.99],
  }),
  company({
    name: '楽天モバイル',
    logo: 'rakuten-mobile.png',
    category: 'telecom',
    descriptor: 'ラクテンモバイル',
    currency: 'JPY',
    plans: ['Rakuten最強プラン'],
    price: [1078, 3278],
  }),
  company({
    name: 'Walmart',
    logo: 'walmart.png',
    category: 'shopping',
    descriptor: 'WAL-MART #5432 WALMART+',
    currency: 'USD',
    plans: ['Walmart+ Monthly'],
    price: [12.95, 12.95],
    sellsGoods: true,
  }),
];

export const PEOPLE = [
  'Jordan Smith',
  'Zoë Ångström',
  '山田 太郎',
  'José Núñez-García',
  "Siobhán O'Brien",
  'Дмитрий Иванов',
  'Ngọc Trần',
  'Priya Raman',
  'Lukas Müller',
  'Amélie Dubois',
  'Kwame Mensah',
  'محمد علي',
] as const;

export const PLACES = [
  { line1: '1200 Broadway', city: 'Oakland', region: 'CA', postalCode: '94612', country: 'US' },
  { line1: '77 Atlantic Ave, Apt 4B', city: 'Brooklyn', region: 'NY', postalCode: '11201', country: 'US' },
  { line1: '12 rue de la République', city: 'Lyon', region: null, postalCode: '69002', country: 'FR' },
  { line1: 'Sendlinger Straße 5', city: 'München', region: 'BY', postalCode: '80331', country: 'DE' },
  { line1: '神宮前 1-2-3', city: '渋谷区', region: '東京都', postalCode: '150-0001', country: 'JP' },
  { line1: '4410 Elm St', city: 'Dallas', region: 'TX', postalCode: '75204', country: 'US' },
] as const;

export const GOODS = [
  'USB-C cable (2-pack)',
  'Kaffeebohnen 1 kg',
  'Paper towels, 12 rolls',
  'Noise-cancelling headphones',
  '抹茶ラテ スティック 30本',
  'Dog food, 15 lb',
  'Café mug ☕',
  'AA batteries (24)',
  'Crème brûlée torch',
  'Kids’ rain boots, size 11',
] as const;

export const CARD_BRANDS = ['visa', 'mastercard', 'amex', 'discover'] as const;

export const TAGS = [
  'household',
  'streaming',
  'work',
  'shared',
  'essential',
  'review',
  'família',
  '節約',
] as const;

/** Names whose identifiers exercise encoding: spaces, accents, CJK, RTL, emoji, URL-significant characters. */
export const UNUSUAL_IDENTIFIER_NAMES = [
  'Zoë Ångström',
  '山田 太郎',
  'José Núñez-García',
  "Siobhán O'Brien",
  'Дмитрий Иванов',
  'محمد علي',
  'Ngọc Trần',
  'jane.doe+bank@example.com',
  'café ☕ user',
  '🚀 launch user',
] as const;

export const LOGO_BASE_URL = 'https://assets.example.com/logos/';
