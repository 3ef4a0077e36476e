import type { DccPayload } from '@cityops/protocol';

/**
 * DCC payloads shaped like the ehn-dcc-schema examples (vaccination, NAAT test, recovery), with
 * invented people and identifiers. Value-set codes are real SNOMED/EMA codes from the published
 * value sets.
 */
export const dccVaccination: DccPayload = {
  ver: '1.3.0',
  nam: { fn: 'Musterfrau-Gößinger', fnt: 'MUSTERFRAU<GOESSINGER', gn: 'Gabriele', gnt: 'GABRIELE' },
  dob: '1998-02-26',
  v: [
    {
      tg: '840539006',
      vp: '1119349007',
      mp: 'EU/1/20/1528',
      ma: 'ORG-100030215',
      dn: 2,
      sd: 2,
      dt: '2021-02-18',
      co: 'XA',
      is: 'cityops test vectors',
      ci: 'URN:UVCI:01:XA:CITYOPS0000000000000000001#A',
    },
  ],
};

export const dccTest: DccPayload = {
  ver: '1.3.0',
  nam: { fn: 'Mustermann', fnt: 'MUSTERMANN', gn: 'Erika', gnt: 'ERIKA' },
  dob: '1964-08',
  t: [
    {
      tg: '840539006',
      tt: 'LP6464-4',
      nm: 'Roche LightCycler qPCR',
      sc: '2021-05-30T10:12:22Z',
      tr: '260415000',
      tc: 'Testing centre XA-1',
      co: 'XA',
      is: 'cityops test vectors',
      ci: 'URN:UVCI:01:XA:CITYOPS0000000000000000002#B',
    },
  ],
};

export const dccRecovery: DccPayload = {
  ver: '1.3.0',
  nam: { gnt: 'WANG<FANG' },
  dob: '',
  r: [
    {
      tg: '840539006',
      fr: '2021-03-01',
      co: 'XA',
      is: 'cityops test vectors',
      df: '2021-03-12',
      du: '2021-08-28',
      ci: 'URN:UVCI:01:XA:CITYOPS0000000000000000003#C',
    },
  ],
};
