{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- One row per county, year and level: the 2012 composite CV (mean of the eight CVs) and verdict, and the 2017
-- resource verdict (all seven CVs within threshold and every school part compliant). Each with its "clean"
-- twin (without warning-flagged parts) and a provisional marker when the flagged parts decide the verdict.
-- quality_composite_cv: the mean of the seven 2017 CVs that some provinces print as a 综合差异系数 (spec §5), given
-- only where the province's configuration asks for it (method_constants show_quality_composite); never a test.

with cv as (
    select * from {{ ref('county_indicator_cv') }}
    where {{ year_filter() }}
),

n_basic as (
    select count(*) as n from {{ ref('indicators') }} where method = 'basic'
),

n_quality as (
    select count(*) as n from {{ ref('indicators') }} where method = 'quality'
),

basic as (
    select
        county_code, year, level,
        max(schools) as basic_schools,
        max(students) as basic_students,
        case when count(cv) = (select n from n_basic) then avg(cv order by indicator) end as composite_cv,
        case when count(cv_clean) = (select n from n_basic) then avg(cv_clean order by indicator) end as composite_cv_clean,
        sum(flagged_schools) > 0 as any_flagged
    from cv
    where method = 'basic'
    group by county_code, year, level
),

quality as (
    select
        county_code, year, level,
        max(schools) as quality_schools,
        count(*) filter (where meets_cv) as quality_cvs_met,
        count(*) as quality_indicators,
        case when count(cv) = (select n from n_quality) then avg(cv order by indicator) end as quality_mean_cv,
        case when bool_or(meets_cv = false) then false when bool_and(meets_cv) then true end as cvs_met,
        case when bool_or(meets_cv_clean = false) then false when bool_and(meets_cv_clean) then true end as cvs_met_clean
    from cv
    where method = 'quality'
    group by county_code, year, level
),

schools as (
    select
        county_code, year, level,
        count(*) as parts,
        count(*) filter (where compliant) as compliant,
        count(*) filter (where compliant = false) as not_compliant,
        count(*) filter (where compliant is null) as undetermined,
        count(*) filter (where compliant = false and not warning_flagged) as not_compliant_clean,
        count(*) filter (where compliant is null and not warning_flagged) as undetermined_clean
    from {{ ref('school_quality_compliance') }}
    where {{ year_filter() }}
    group by county_code, year, level
),

keys as (
    select distinct county_code, year, level from cv
),

joined as (
    select
        k.county_code, k.year, k.level,
        b.basic_schools, b.basic_students, b.composite_cv, b.composite_cv_clean, b.any_flagged,
        {{ cfg('thr', 'threshold') }} as composite_threshold,
        q.quality_schools, q.quality_cvs_met, q.quality_indicators, q.cvs_met, q.cvs_met_clean,
        case when {{ cfg('qc', 'value') }} = 1 then q.quality_mean_cv end as quality_composite_cv,
        s.compliant as schools_compliant, s.not_compliant as schools_not_compliant,
        s.undetermined as schools_undetermined,
        case
            when q.cvs_met = false or s.not_compliant > 0 then false
            when q.cvs_met and coalesce(s.undetermined, 0) = 0 then true
        end as quality_resource_met,
        case
            when q.cvs_met_clean = false or s.not_compliant_clean > 0 then false
            when q.cvs_met_clean and coalesce(s.undetermined_clean, 0) = 0 then true
        end as quality_resource_met_clean
    from keys k
    left join basic b using (county_code, year, level)
    left join quality q using (county_code, year, level)
    left join schools s using (county_code, year, level)
    {{ cfg_join('cv_thresholds', 'thr', 'left(k.county_code, 2)', {'method': "'basic'", 'level': 'k.level', 'measure': "'composite'"}) }}
    {{ cfg_join('method_constants', 'qc', 'left(k.county_code, 2)', {'constant': "'show_quality_composite'"}) }}
)

select
    cast(county_code as varchar) as county_code,
    cast(year as integer) as year,
    cast(level as varchar) as level,
    cast(coalesce(basic_schools, 0) as integer) as basic_schools,
    cast(coalesce(basic_students, 0) as double) as basic_students,
    cast(composite_cv as double) as composite_cv,
    cast(composite_threshold as double) as composite_threshold,
    cast(composite_cv <= composite_threshold as boolean) as basic_met,
    cast(composite_cv_clean as double) as composite_cv_clean,
    cast(composite_cv_clean <= composite_threshold as boolean) as basic_met_clean,
    cast(coalesce(any_flagged, false)
         and (composite_cv <= composite_threshold) is distinct from (composite_cv_clean <= composite_threshold) as boolean) as basic_provisional,
    cast(coalesce(quality_cvs_met, 0) as integer) as quality_cvs_met,
    cast(cvs_met as boolean) as quality_cv_met,
    cast(quality_composite_cv as double) as quality_composite_cv,
    cast(coalesce(quality_schools, 0) as integer) as schools_total,
    cast(coalesce(schools_compliant, 0) as integer) as schools_compliant,
    cast(coalesce(schools_not_compliant, 0) as integer) as schools_not_compliant,
    cast(coalesce(schools_undetermined, 0) as integer) as schools_undetermined,
    cast(quality_resource_met as boolean) as quality_resource_met,
    cast(quality_resource_met_clean as boolean) as quality_resource_met_clean,
    cast(quality_resource_met is distinct from quality_resource_met_clean as boolean) as quality_provisional
from joined
