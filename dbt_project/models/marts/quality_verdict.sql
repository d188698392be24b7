{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail') }}
-- The overall 2017 verdict per county and year: recognised ('met') only when all four parts are met, i.e. every
-- scorecard item is met and every school part of both levels is compliant (6 of 7 / 85%). 'not_met' as soon as
-- anything fails; otherwise 'incomplete' when an item has no data (or a school's compliance cannot be judged).

with sc as (
    select * from {{ ref('quality_scorecard') }} where {{ year_filter() }}
),

items as (
    select
        county_code, year,
        count(*) as items,
        count(*) filter (where status = 'met') as items_met,
        count(*) filter (where status = 'not_met') as items_not_met,
        count(*) filter (where status = 'no_data') as items_no_data,
        bool_or(provisional) as any_provisional,
        {%- for p in ['resource', 'government', 'quality', 'recognition'] %}
        case when bool_or(status = 'not_met') filter (where part = '{{ p }}') then 'not_met'
             when bool_or(status = 'no_data') filter (where part = '{{ p }}') then 'incomplete'
             when count(*) filter (where part = '{{ p }}') = 0 then 'incomplete'
             else 'met' end as {{ p }}_part{{ ',' if not loop.last }}
        {%- endfor %}
    from sc
    group by county_code, year
),

schools as (
    select
        county_code, year,
        sum(quality_schools_not_compliant) as not_compliant,
        sum(quality_schools_undetermined) as undetermined,
        bool_or(quality_provisional) as any_provisional
    from {{ ref('county_balance') }}
    where {{ year_filter() }}
    group by county_code, year
),

joined as (
    select
        i.*,
        coalesce(s.not_compliant, 0) as schools_not_compliant,
        coalesce(s.undetermined, 0) as schools_undetermined,
        case
            when i.resource_part = 'not_met' or coalesce(s.not_compliant, 0) > 0 then 'not_met'
            when i.resource_part = 'incomplete' or coalesce(s.undetermined, 0) > 0 then 'incomplete'
            else 'met'
        end as resource_verdict,
        coalesce(s.any_provisional, false) or coalesce(i.any_provisional, false) as provisional
    from items i
    left join schools s using (county_code, year)
)

select
    cast(county_code as varchar) as county_code,
    cast(year as integer) as year,
    cast(case
        when resource_verdict = 'not_met' or government_part = 'not_met' or quality_part = 'not_met'
             or recognition_part = 'not_met' then 'not_met'
        when resource_verdict = 'incomplete' or government_part = 'incomplete' or quality_part = 'incomplete'
             or recognition_part = 'incomplete' then 'incomplete'
        else 'met'
    end as varchar) as verdict,
    cast(resource_verdict as varchar) as resource_part,
    cast(government_part as varchar) as government_part,
    cast(quality_part as varchar) as quality_part,
    cast(recognition_part as varchar) as recognition_part,
    cast(items as integer) as items,
    cast(items_met as integer) as items_met,
    cast(items_not_met as integer) as items_not_met,
    cast(items_no_data as integer) as items_no_data,
    cast(schools_not_compliant as integer) as schools_not_compliant,
    cast(schools_undetermined as integer) as schools_undetermined,
    cast(provisional as boolean) as provisional
from joined
